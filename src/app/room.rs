//! A room's page (`/room/NAME`): heading with the count, people, chat, and Leave.

use leptos::prelude::*;
use leptos_router::hooks::{use_navigate, use_params_map};

use super::call::CallPanel;
use super::chat::Chat;
use super::members::MemberList;
use super::nickname::NicknameForm;
use super::session::Session;
use crate::limits::validate_room_name;
use crate::strings;

#[component]
pub fn RoomPage() -> impl IntoView {
    let session = expect_context::<Session>();
    let params = use_params_map();
    // The router decodes the URL-encoded segment; the name is validated like typed input.
    let room = Memo::new(move |_| validate_room_name(&params.read().get("name").unwrap_or_default()));
    Effect::new(move |_| {
        if let Ok(name) = room.get() {
            session.enter(name);
        }
    });
    let navigate = use_navigate();
    let leave = move |_| navigate("/", Default::default());

    let heading = move || match room.get() {
        Ok(name) => match session.joined.get() {
            Some(_) => strings::room_heading(&name, session.members.with(Vec::len)),
            None => name,
        },
        Err(_) => strings::APP_NAME.to_string(),
    };

    view! {
        <div class="room-bar">
            <h1 class="room-title">{heading}</h1>
            <button type="button" class="leave" on:click=leave>{strings::LEAVE}</button>
        </div>
        {move || room.get().err().map(|e| view! { <p class="banner error" role="alert">{e.to_string()}</p> })}
        {move || session.error.get().map(|e| view! { <p class="banner error" role="alert">{e}</p> })}
        <div class="room-grid">
            <div class="main-col">
                <CallPanel/>
                <Chat/>
            </div>
            <aside class="side">
                <MemberList/>
                <section class="card">
                    <NicknameForm/>
                </section>
            </aside>
        </div>
    }
}

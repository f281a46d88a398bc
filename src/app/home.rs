//! The home page: nickname, the live list of open rooms, and a form to enter a room.

use leptos::ev::SubmitEvent;
use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::nickname::NicknameForm;
use super::session::Session;
use crate::limits::{room_path, validate_room_name};
use crate::protocol::RoomInfo;
use crate::strings;

#[component]
pub fn HomePage() -> impl IntoView {
    let session = expect_context::<Session>();
    // Being on the home page is what subscribes this browser to room-list updates.
    Effect::new(move |_| session.go_home());

    view! {
        <section class="hero">
            <h1>{strings::APP_NAME}</h1>
            <p class="tagline">{strings::TAGLINE}</p>
        </section>
        <div class="home-grid">
            <section class="card">
                <NicknameForm/>
                <EnterRoomForm/>
            </section>
            <section class="card">
                <h2>{strings::ROOMS_HEADING}</h2>
                <RoomList/>
            </section>
        </div>
    }
}

#[component]
fn RoomList() -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <ul class="room-list" aria-label=strings::ROOMS_HEADING>
            <For
                each=move || session.rooms.get()
                key=|room| (room.name.clone(), room.count)
                children=|room: RoomInfo| {
                    view! {
                        <li>
                            <a href=room_path(&room.name)>
                                <span class="room-name">{room.name.clone()}</span>
                                <span class="room-count">{strings::people(room.count)}</span>
                            </a>
                        </li>
                    }
                }
            />
        </ul>
        <p class="muted" hidden=move || !session.rooms.with(Vec::is_empty)>{strings::ROOMS_EMPTY}</p>
    }
}

#[component]
fn EnterRoomForm() -> impl IntoView {
    let navigate = use_navigate();
    let name = RwSignal::new(String::new());
    let error = RwSignal::new(None::<String>);
    let on_submit = move |ev: SubmitEvent| {
        ev.prevent_default();
        match validate_room_name(&name.get_untracked()) {
            Ok(room) => {
                error.set(None);
                navigate(&room_path(&room), Default::default());
            }
            Err(e) => error.set(Some(e.to_string())),
        }
    };
    view! {
        <form class="inline-form room-form" on:submit=on_submit novalidate>
            <label for="room-name">{strings::ROOM_NAME_LABEL}</label>
            <div class="row">
                <input
                    id="room-name"
                    name="room"
                    type="text"
                    autocomplete="off"
                    placeholder="lobby"
                    aria-invalid=move || error.get().is_some().to_string()
                    aria-describedby="room-name-error"
                    bind:value=name
                />
                <button type="submit" class="primary">{strings::ROOM_ENTER}</button>
            </div>
            <p id="room-name-error" class="field-error" role="alert">{move || error.get()}</p>
        </form>
    }
}

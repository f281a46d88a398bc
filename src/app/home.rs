//! The home page: nickname, the live list of open rooms, and a form to enter a room.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::field::ValidatedField;
use super::nickname::NicknameForm;
use super::session::Session;
use crate::model::Intent;
use crate::strings;
use crate::limits::{room_path, validate_room_name};
use crate::protocol::RoomInfo;
use crate::i18n::{t, t_string, use_i18n};

#[component]
pub fn HomePage() -> impl IntoView {
    let session = expect_context::<Session>();
    let i18n = use_i18n();
    // Being on the home page is what subscribes this browser to room-list updates.
    Effect::new(move |_| session.intend(Intent::GoHome));

    view! {
        <section class="hero">
            <h1>{t!(i18n, app_name)}</h1>
            <p class="tagline">{t!(i18n, tagline)}</p>
        </section>
        // Why I am here rather than in a room (removed, locked out).
        {move || session.error.get().map(|e| view! { <p class="banner error" role="alert">{strings::banner(i18n.get_locale(), &e)}</p> })}
        <div class="home-grid">
            <section class="card">
                <NicknameForm/>
                <EnterRoomForm/>
            </section>
            <section class="card">
                <h2>{t!(i18n, rooms_heading)}</h2>
                <RoomList/>
            </section>
        </div>
    }
}

#[component]
fn RoomList() -> impl IntoView {
    let session = expect_context::<Session>();
    let i18n = use_i18n();
    view! {
        <ul class="room-list" aria-label=move || t_string!(i18n, rooms_heading)>
            <For
                each=move || session.rooms.get()
                key=|room| (room.name.clone(), room.count, room.locked, room.protected)
                children=move |room: RoomInfo| {
                    let count = room.count;
                    view! {
                        <li>
                            <a href=room_path(&room.name)>
                                <span class="room-name">{room.name.clone()}</span>
                                {room.locked.then(|| view! { <span class="lock-tag" role="img" aria-label=move || t_string!(i18n, room_locked)>"🔒"</span> })}
                                {room.protected.then(|| view! { <span class="lock-tag" role="img" aria-label=move || t_string!(i18n, room_protected)>"🔑"</span> })}
                                <span class="room-count">{move || if count == 1 {
                                    t_string!(i18n, person_count).to_string()
                                } else {
                                    t_string!(i18n, people_count, count).to_string()
                                }}</span>
                            </a>
                        </li>
                    }
                }
            />
        </ul>
        <p class="muted" hidden=move || !session.rooms.with(Vec::is_empty)>{t!(i18n, rooms_empty)}</p>
    }
}

#[component]
fn EnterRoomForm() -> impl IntoView {
    let navigate = use_navigate();
    let i18n = use_i18n();
    let name = RwSignal::new(String::new());
    view! {
        <ValidatedField
            id="room-name"
            label=Signal::derive(move || t_string!(i18n, room_name_label))
            button=Signal::derive(move || t_string!(i18n, room_enter))
            value=name
            validate=validate_room_name
            on_valid=move |room: String| navigate(&room_path(&room), Default::default())
            placeholder="lobby"
            class="room-form"
            primary=true
        />
    }
}

//! The home page: nickname, the live list of open rooms, and a form to enter a room.

use leptos::prelude::*;
use leptos_router::hooks::use_navigate;

use super::field::ValidatedField;
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
        // Why I am here rather than in a room (removed, locked out).
        {move || session.error.get().map(|e| view! { <p class="banner error" role="alert">{e}</p> })}
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
                key=|room| (room.name.clone(), room.count, room.locked, room.protected)
                children=|room: RoomInfo| {
                    view! {
                        <li>
                            <a href=room_path(&room.name)>
                                <span class="room-name">{room.name.clone()}</span>
                                {room.locked.then(|| view! { <span class="lock-tag" role="img" aria-label=strings::ROOM_LOCKED>"🔒"</span> })}
                                {room.protected.then(|| view! { <span class="lock-tag" role="img" aria-label=strings::ROOM_PROTECTED>"🔑"</span> })}
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
    view! {
        <ValidatedField
            id="room-name"
            label=strings::ROOM_NAME_LABEL
            button=strings::ROOM_ENTER
            value=name
            validate=validate_room_name
            on_valid=move |room: String| navigate(&room_path(&room), Default::default())
            placeholder="lobby"
            class="room-form"
            primary=true
        />
    }
}

//! A room's page (`/room/NAME`): heading with the count, people, chat, and Leave.
//!
//! The page is a *lazy route*: its code (and all it alone reaches: chat, people, the call
//! panel and tiles) is split into its own WASM chunk by `cargo leptos build --split`, which
//! the browser fetches only when a room is shown. The home page's download does not carry
//! it; a deep link gets the chunk preloaded by the server-rendered page. Written with
//! wasm-split directly rather than Leptos's `#[lazy_route]`, so a failed download is
//! retried instead of stopping the app.

use leptos::prelude::*;
use leptos_router::LazyRoute;

use crate::i18n::{t, t_string, use_i18n};
use leptos_router::hooks::{use_navigate, use_params_map};

use super::call::CallPanel;
use super::chat::Chat;
use super::members::{LobbyList, MemberList};
use super::nickname::NicknameForm;
use super::session::{Place, Session};
use super::field::ValidatedField;
use crate::limits::{validate_nickname, validate_password, validate_room_name};
use crate::model::{Intent, Request};
use crate::protocol::REACTIONS;
use crate::strings;

/// The route the router loads on demand (see the module doc).
pub struct RoomRoute;

/// How long to wait before fetching the room's chunk again after a failed download.
const RELOAD_AFTER: std::time::Duration = std::time::Duration::from_secs(2);

impl LazyRoute for RoomRoute {
    fn data() -> Self {
        RoomRoute
    }

    async fn view(_this: Self) -> AnyView {
        // Rendering a room on the server: the page's HTML preloads the chunk (by its name in
        // cargo-leptos's split manifest). In the browser this does nothing.
        leptos::prefetch_lazy_fn_on_server("room_page");
        loop {
            room_code().await;
            if let Ok(view) = room_view().await {
                return view;
            }
        }
    }

    /// The router awaits this before it hydrates or shows the page, then expects the view at
    /// once: so it returns only once the chunk is in.
    async fn preload() {
        room_code().await;
    }
}

/// Fetch the room page's chunk, again every 2 s while that fails (a network blip; Leptos's
/// own lazy routes would panic and stop the app). Until it is in, the page stays as the
/// server rendered it. Once loaded, this returns at once.
async fn room_code() {
    while load_room().await.is_err() {
        leptos::logging::warn!("could not load the room page's code; trying again in {RELOAD_AFTER:?}");
        super::timer::pause(RELOAD_AFTER).await;
    }
}

/// The room page's code, split into `split_room_page.wasm` (wasm-split's `fallible` form:
/// a failed download is an error to retry, not a panic).
#[leptos::wasm_split::wasm_split(room_page, wasm_split_path = ::leptos::wasm_split, fallible, preload(load_room))]
fn room_view() -> Result<AnyView, leptos::wasm_split::SplitLoaderError> {
    Ok(view! { <RoomPage/> }.into_any())
}

#[component]
fn RoomPage() -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    let params = use_params_map();
    // The router decodes the URL-encoded segment; the name is validated like typed input.
    let room = Memo::new(move |_| validate_room_name(&params.read().get("name").unwrap_or_default()));
    // Someone who followed a link without ever choosing a name picks one first.
    Effect::new(move |_| {
        if let (Ok(name), true) = (room.get(), session.named.get()) {
            session.intend(Intent::Enter(name));
        }
    });
    let navigate = use_navigate();
    // The server sent me away (a host removed me, the room is locked): to the home page,
    // where the banner says why.
    let sent_home = navigate.clone();
    Effect::new(move |before: Option<Place>| {
        let now = session.place.get();
        if matches!(before, Some(Place::Room(_))) && now == Place::Home {
            sent_home("/", Default::default());
        }
        now
    });
    let leave = move |_| navigate("/", Default::default());

    let heading = move || match room.get() {
        Ok(name) => match session.joined.get() {
            Some(_) => strings::room_heading(i18n.get_locale(), &name, session.members.with(Vec::len)),
            None => name,
        },
        Err(_) => strings::APP_NAME.to_string(),
    };

    let me = move || session.me.get();
    let hand_up = move || session.hands.with(|h| me().is_some_and(|me| h.contains(&me)));
    let i_host = move || session.is_host(me());
    let locked = move || session.locked.get();

    view! {
        <div class="room-bar">
            <h1 class="room-title">{heading}</h1>
            <span class="lock-tag" hidden=move || !locked()>"🔒 "{t!(i18n, room_locked)}</span>
            <span class="lock-tag" hidden=move || !session.protected.get()>"🔑 "{t!(i18n, room_protected)}</span>
            <div class="room-actions" hidden=move || session.joined.get().is_none()>
                <button type="button" aria-pressed=move || hand_up().to_string() on:click=move |_| session.intend(Intent::Request(Request::Hand { raised: !hand_up(), conn_id: None }))>
                    "✋ "{move || if hand_up() { t_string!(i18n, lower_hand) } else { t_string!(i18n, raise_hand) }}
                </button>
                <span class="react-bar" role="group" aria-label=move || t_string!(i18n, reactions_label)>
                    {REACTIONS.iter().map(|e| view! {
                        <button type="button" class="react" aria-label=move || strings::react_label(i18n.get_locale(), e) title=move || strings::react_label(i18n.get_locale(), e) on:click=move |_| session.intend(Intent::React(e.to_string()))>{*e}</button>
                    }).collect_view()}
                </span>
                <button type="button" hidden=move || !i_host() aria-pressed=move || locked().to_string()
                    on:click=move |_| session.intend(Intent::Request(Request::Lock(!locked())))>
                    {move || if locked() { t_string!(i18n, unlock_room) } else { t_string!(i18n, lock_room) }}
                </button>
                <button type="button" hidden=move || !i_host() aria-pressed=move || session.lobby.get().to_string()
                    on:click=move |_| session.intend(Intent::Request(Request::Lobby(!session.lobby.get_untracked())))>
                    {move || if session.lobby.get() { t_string!(i18n, lobby_off) } else { t_string!(i18n, lobby_on) }}
                </button>
                <Show when=i_host>
                    <PasswordControls/>
                </Show>
            </div>
            <button type="button" class="leave" on:click=leave>{t!(i18n, leave)}</button>
        </div>
        {move || room.get().err().map(|e| view! { <p class="banner error" role="alert">{e.to_string()}</p> })}
        {move || session.error.get().map(|e| view! { <p class="banner error" role="alert">{strings::banner(i18n.get_locale(), &e)}</p> })}
        {move || session.waiting.get().then(|| view! { <p class="banner" role="status">{t!(i18n, waiting_for_host)}</p> })}
        <Show when=move || !session.named.get() && room.get().is_ok()>
            <PreJoin/>
        </Show>
        <Show when=move || session.named.get() && session.needs_password.get()>
            <PasswordPrompt/>
        </Show>
        // Until I am in the room (choosing a name, waiting to be let in) only my camera
        // preview and device pickers show, to get ready.
        <div class="room-grid">
            <div class="main-col">
                <CallPanel/>
                <div hidden=move || session.at_the_door()>
                    <Chat/>
                </div>
            </div>
            <aside class="side" hidden=move || session.at_the_door()>
                <LobbyList/>
                <MemberList/>
                <section class="card">
                    <NicknameForm/>
                </section>
            </aside>
        </div>
    }
}

/// The room has a password: ask for it (and say why the last one did not do).
#[component]
fn PasswordPrompt() -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    let draft = RwSignal::new(String::new());
    view! {
        <section class="card pre-join">
            <h2>{t!(i18n, password_heading)}</h2>
            <p class="muted">{t!(i18n, password_hint)}</p>
            <ValidatedField
                id="room-password"
                label=Signal::derive(move || t_string!(i18n, password))
                button=Signal::derive(move || t_string!(i18n, room_enter))
                value=draft
                validate=validate_password
                on_valid=move |password: String| session.intend(Intent::EnterWithPassword(password))
                autocomplete="current-password"
                input_type="password"
                primary=true
            />
            <p class="field-error" role="alert">{move || session.password_note.get().map(|r| strings::refusal(i18n.get_locale(), r.code, &r.message))}</p>
            <p class="muted" role="status">{move || session.checking_password.get().then_some(t_string!(i18n, checking_password))}</p>
        </section>
    }
}

/// A host's password button: opens a small form to set or change the room's password,
/// or remove it.
#[component]
fn PasswordControls() -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    let open = RwSignal::new(false);
    let draft = RwSignal::new(String::new());
    view! {
        <span class="password-controls">
            <button type="button" aria-expanded=move || open.get().to_string() on:click=move |_| open.update(|o| *o = !*o)>
                "🔑 "{t!(i18n, password_button)}
            </button>
            <div class="card popover" hidden=move || !open.get()>
                <ValidatedField
                    id="new-room-password"
                    label=Signal::derive(move || t_string!(i18n, new_password))
                    button=Signal::derive(move || t_string!(i18n, set_password))
                    value=draft
                    validate=validate_password
                    on_valid=move |password: String| {
                        session.intend(Intent::SetRoomPassword(Some(password)));
                        draft.set(String::new());
                        open.set(false);
                    }
                    autocomplete="new-password"
                    input_type="password"
                />
                <p class="muted">{t!(i18n, password_set_hint)}</p>
                <button type="button" hidden=move || !session.protected.get() on:click=move |_| {
                    session.intend(Intent::SetRoomPassword(None));
                    open.set(false);
                }>{t!(i18n, remove_password)}</button>
            </div>
        </span>
    }
}

/// Before entering by a link without a name: ask for one (the others would see "Anonymous").
#[component]
fn PreJoin() -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    let draft = RwSignal::new(String::new());
    view! {
        <section class="card pre-join">
            <h2>{t!(i18n, pre_join_heading)}</h2>
            <p class="muted">{t!(i18n, pre_join_hint)}</p>
            <ValidatedField
                id="pre-join-name"
                label=Signal::derive(move || t_string!(i18n, your_name))
                button=Signal::derive(move || t_string!(i18n, room_enter))
                value=draft
                validate=validate_nickname
                on_valid=move |nickname: String| session.intend(Intent::SetNickname(nickname))
                autocomplete="nickname"
                primary=true
            />
        </section>
    }
}

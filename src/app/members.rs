//! The people in the room, with "you", hosts and raised hands marked; a host also gets
//! the controls for each person (make host, ask to mute / mute, lower hand, remove). The
//! server enforces who may use them; hiding them from others is only tidiness.

use leptos::prelude::*;

use crate::i18n::{t, t_string, use_i18n, Locale};
use leptos_i18n::I18nContext;

use super::session::Session;
use crate::model::{Intent, Request};
use crate::protocol::{ConnId, Member};
use crate::strings;

#[component]
pub fn MemberList() -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    view! {
        <section class="card members">
            <h2>{t!(i18n, members_heading)}</h2>
            <ul aria-label=move || t_string!(i18n, members_heading)>
                <For
                    each=move || session.members.get()
                    key=|m| (m.conn_id, m.nickname.clone())
                    children=move |m: Member| view! { <MemberRow member=m/> }
                />
            </ul>
        </section>
    }
}

#[component]
fn MemberRow(member: Member) -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    let Member { conn_id, nickname, .. } = member;
    let is_me = session.me.get_untracked() == Some(conn_id);
    let host = move || session.is_host(Some(conn_id));
    let hand = move || session.hands.with(|h| h.contains(&conn_id));
    let i_host = move || session.is_host(session.me.get());
    let nick = nickname.clone();
    view! {
        <li class:me=is_me>
            <span class="avatar" aria-hidden="true">{nickname.chars().next().map(|c| c.to_uppercase().to_string())}</span>
            <span class="nick">{nickname.clone()}</span>
            {is_me.then(|| view! { <span class="you-tag">{t!(i18n, you)}</span> })}
            {move || host().then(|| view! { <span class="role-tag">{t!(i18n, host)}</span> })}
            {move || hand().then(|| view! { <span class="hand" role="img" aria-label=move || t_string!(i18n, hand_raised)>"✋"</span> })}
            <Reactions conn_id=conn_id/>
            {move || (i_host() && !is_me).then(|| view! { <HostControls conn_id=conn_id nickname=nick.clone()/> })}
        </li>
    }
}

/// A host's buttons for one other member.
#[component]
fn HostControls(conn_id: ConnId, nickname: String) -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    let host = move || session.is_host(Some(conn_id));
    let hand = move || session.hands.with(|h| h.contains(&conn_id));
    let talking = move || session.call.with(|c| c.iter().any(|p| p.conn_id == conn_id && p.media.audio));
    view! {
        <span class="host-controls">
            <button type="button" hidden=host aria-label=named(i18n, strings::make_host_label, &nickname) title=named(i18n, strings::make_host_label, &nickname) on:click=move |_| session.intend(Intent::Request(Request::MakeHost(conn_id)))>
                {t!(i18n, host)}
            </button>
            <button type="button" hidden=move || !hand() aria-label=named(i18n, strings::lower_hand_label, &nickname) title=named(i18n, strings::lower_hand_label, &nickname)
                on:click=move |_| session.intend(Intent::Request(Request::Hand { raised: false, conn_id: Some(conn_id) }))>"✋"</button>
            <button type="button" hidden=move || !talking() aria-label=named(i18n, strings::ask_mute_label, &nickname) title=named(i18n, strings::ask_mute_label, &nickname)
                on:click=move |_| session.intend(Intent::Request(Request::Mute { conn_id, force: false }))>"🔈?"</button>
            <button type="button" hidden=move || !talking() aria-label=named(i18n, strings::mute_label, &nickname) title=named(i18n, strings::mute_label, &nickname)
                on:click=move |_| session.intend(Intent::Request(Request::Mute { conn_id, force: true }))>"🔇"</button>
            <button type="button" class="danger" aria-label=named(i18n, strings::remove_label, &nickname) title=named(i18n, strings::remove_label, &nickname) on:click=move |_| session.intend(Intent::Request(Request::Remove(conn_id)))>
                "✕"
            </button>
        </span>
    }
}

/// Reactions from `conn_id` floating up for a moment (CSS animates and hides them).
#[component]
pub fn Reactions(conn_id: ConnId) -> impl IntoView {
    let session = expect_context::<Session>();
    let mine = move || session.reactions.with(|r| r.iter().filter(|(_, from, _)| *from == conn_id).cloned().collect::<Vec<_>>());
    view! {
        <span class="reactions" aria-live="polite">
            <For each=mine key=|(key, _, _)| *key children=|(_, _, emoji)| view! { <span class="reaction">{emoji}</span> }/>
        </span>
    }
}

/// For hosts: who waits to come in, with Admit and Deny.
#[component]
pub fn LobbyList() -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    let shown = move || session.is_host(session.me.get()) && !session.lobby_queue.with(Vec::is_empty);
    view! {
        <section class="card lobby" hidden=move || !shown()>
            <h2>{t!(i18n, lobby_heading)}</h2>
            <ul aria-label=move || t_string!(i18n, lobby_heading)>
                <For
                    each=move || session.lobby_queue.get()
                    key=|m| (m.conn_id, m.nickname.clone())
                    children=move |m: Member| {
                        let id = m.conn_id;
                        view! {
                            <li>
                                <span class="nick">{m.nickname.clone()}</span>
                                <button type="button" aria-label=named(i18n, strings::admit_label, &m.nickname) on:click=move |_| session.intend(Intent::Request(Request::Admit(id)))>{t!(i18n, admit)}</button>
                                <button type="button" aria-label=named(i18n, strings::deny_label, &m.nickname) on:click=move |_| session.intend(Intent::Request(Request::Deny(id)))>{t!(i18n, deny)}</button>
                            </li>
                        }
                    }
                />
            </ul>
        </section>
    }
}

/// An accessible name about someone, in the reader's language: it follows the language
/// switch like the texts on screen.
fn named(i18n: I18nContext<Locale>, text: fn(Locale, &str) -> String, nickname: &str) -> impl Fn() -> String + Clone + Send + Sync + 'static {
    let nickname = nickname.to_string();
    move || text(i18n.get_locale(), &nickname)
}

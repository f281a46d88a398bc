//! The people in the room, with "you" marked.

use leptos::prelude::*;

use super::session::Session;
use crate::protocol::Member;
use crate::strings;

#[component]
pub fn MemberList() -> impl IntoView {
    let session = expect_context::<Session>();
    view! {
        <section class="card members">
            <h2>{strings::MEMBERS_HEADING}</h2>
            <ul aria-label=strings::MEMBERS_HEADING>
                <For
                    each=move || session.members.get()
                    key=|m| (m.conn_id, m.nickname.clone())
                    children=move |m: Member| {
                        let is_me = session.me.get_untracked() == Some(m.conn_id);
                        view! {
                            <li class:me=is_me>
                                <span class="avatar" aria-hidden="true">
                                    {m.nickname.chars().next().map(|c| c.to_uppercase().to_string())}
                                </span>
                                <span class="nick">{m.nickname.clone()}</span>
                                {is_me.then(|| view! { <span class="you-tag">{strings::YOU}</span> })}
                            </li>
                        }
                    }
                />
            </ul>
        </section>
    }
}

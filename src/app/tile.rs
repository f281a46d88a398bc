//! One tile in the call grid: a participant's camera (with their voice) or, in an SFU call,
//! their screen share; the nickname and their reported state. A click pins it (shown large).

use leptos::html::Video;
use leptos::prelude::*;

use crate::i18n::{t, t_string, use_i18n};

use super::media::{self, StreamOf};
use super::members::Reactions;
use super::session::Session;
use crate::protocol::{ConnId, Quality, RemoteTrack, TrackKind};
use crate::strings;

/// Keep `video` showing the stream `which()` names, re-attaching when tracks arrive or
/// change (`Session::media_epoch`, the model's `devices.streams`).
pub fn use_stream(video: NodeRef<Video>, which: impl Fn() -> StreamOf + Send + Sync + 'static) {
    let session = expect_context::<Session>();
    Effect::new(move |_| {
        session.media_epoch.track();
        let which = which();
        if let Some(video) = video.get() {
            media::attach(&video, which);
        }
    });
}

#[component]
pub fn Tile(conn_id: ConnId, #[prop(default = TrackKind::Video)] kind: TrackKind) -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    let screen = kind == TrackKind::Screen;
    let is_me = move || session.me.get() == Some(conn_id);
    let video_ref = NodeRef::<Video>::new();
    use_stream(video_ref, move || match (is_me(), screen) {
        (true, false) => StreamOf::Local,
        (true, true) => StreamOf::LocalScreen,
        (false, _) => StreamOf::Peer(conn_id, kind),
    });
    let participant = Memo::new(move |_| session.call.with(|c| c.iter().find(|p| p.conn_id == conn_id).cloned()));
    let nickname = move || participant.get().map(|p| p.nickname).unwrap_or_default();
    let media = move || participant.get().map(|p| p.media).unwrap_or_default();
    let quality = move || media().quality;
    let quality_label = move || match quality() {
        Quality::Good => t_string!(i18n, quality_good),
        Quality::Fair => t_string!(i18n, quality_fair),
        Quality::Poor => t_string!(i18n, quality_poor),
    };
    let speaking = move || !screen && session.speaking.with(|s| s.contains(&conn_id));
    let pinned = move || session.pinned.get() == Some((conn_id, kind));
    // The SFU holds this video back: my link cannot carry it (`call_paused`).
    let paused = move || session.paused.with(|p| p.contains(&RemoteTrack { from: conn_id, kind }));
    let toggle_pin = move |_| session.intend(crate::model::Intent::TogglePin(conn_id, kind));
    let label = move || if screen { strings::screen_tile_label(i18n.get_locale(), &nickname()) } else { strings::tile_label(i18n.get_locale(), &nickname()) };

    view! {
        <figure
            class="tile"
            class:me=is_me
            class:screen=screen
            class:pinned=pinned
            class:speaking=speaking
            class:paused=paused
            class:camera-off=move || !screen && !media().video && !media().screen
            data-conn-id=conn_id.to_string()
            data-kind=if screen { "screen" } else { "video" }
            aria-label=label
        >
            <video node_ref=video_ref autoplay=true playsinline=true muted=move || is_me() || screen></video>
            {(!screen).then(|| view! { <div class="tile-reactions"><Reactions conn_id=conn_id/></div> })}
            <p class="tile-paused" role="status" hidden=move || !paused()>{t!(i18n, video_paused)}</p>
            <div class="tile-avatar" aria-hidden="true">
                {move || nickname().chars().next().map(|c| c.to_uppercase().to_string())}
            </div>
            <figcaption>
                {(!screen).then(|| view! {
                    <span class="quality" data-quality=move || match quality() { Quality::Good => "good", Quality::Fair => "fair", Quality::Poor => "poor" } role="img" aria-label=quality_label title=quality_label>
                        <i></i><i></i><i></i>
                    </span>
                })}
                <span class="tile-nick">{nickname}</span>
                {move || is_me().then(|| view! { <span class="you-tag">{t!(i18n, you)}</span> })}
                <span class="badge" hidden=move || screen || media().audio>{t!(i18n, badge_muted)}</span>
                <span class="badge" hidden=move || screen || media().video || media().screen>{t!(i18n, badge_camera_off)}</span>
                <span class="badge" hidden=move || screen || !media().screen>{t!(i18n, badge_sharing)}</span>
                {move || (!screen && session.hands.with(|h| h.contains(&conn_id)))
                    .then(|| view! { <span class="hand" role="img" aria-label=move || t_string!(i18n, hand_raised)>"✋"</span> })}
                <button type="button" class="pin" on:click=toggle_pin aria-pressed=move || pinned().to_string()>
                    {move || if pinned() { t_string!(i18n, unpin) } else { t_string!(i18n, pin) }}
                </button>
            </figcaption>
        </figure>
    }
}

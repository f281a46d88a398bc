//! One participant's tile in the call grid: video, nickname, and their reported state.

use leptos::html::Video;
use leptos::prelude::*;

use super::session::Session;
use crate::protocol::ConnId;
use crate::strings;

#[component]
pub fn Tile(conn_id: ConnId) -> impl IntoView {
    let session = expect_context::<Session>();
    let is_me = move || session.me.get() == Some(conn_id);
    let video_ref = NodeRef::<Video>::new();
    // (Re-)attach the stream whenever tracks arrive or change.
    Effect::new(move |_| {
        session.media_epoch.track();
        let Some(_video) = video_ref.get() else { return };
        #[cfg(feature = "hydrate")]
        {
            let stream = if is_me() {
                crate::client::call::local_stream()
            } else {
                crate::client::call::remote_stream(conn_id)
            };
            let current = _video.src_object();
            if current.as_ref().map(|s| s.id()) != stream.as_ref().map(|s| s.id()) {
                _video.set_src_object(stream.as_ref());
            }
            let _ = _video.play();
        }
    });
    let participant = Memo::new(move |_| session.call.with(|c| c.iter().find(|p| p.conn_id == conn_id).cloned()));
    let nickname = move || participant.get().map(|p| p.nickname).unwrap_or_default();
    let media = move || participant.get().map(|p| p.media).unwrap_or_default();
    let speaking = move || session.speaking.with(|s| s.contains(&conn_id));

    view! {
        <figure
            class="tile"
            class:me=is_me
            class:speaking=speaking
            class:camera-off=move || !media().video && !media().screen
            data-conn-id=conn_id.to_string()
            aria-label=move || strings::tile_label(&nickname())
        >
            <video node_ref=video_ref autoplay=true playsinline=true muted=is_me></video>
            <div class="tile-avatar" aria-hidden="true">
                {move || nickname().chars().next().map(|c| c.to_uppercase().to_string())}
            </div>
            <figcaption>
                <span class="tile-nick">{nickname}</span>
                {move || is_me().then(|| view! { <span class="you-tag">{strings::YOU}</span> })}
                <span class="badge" hidden=move || media().audio>{strings::BADGE_MUTED}</span>
                <span class="badge" hidden=move || media().video || media().screen>{strings::BADGE_CAMERA_OFF}</span>
                <span class="badge" hidden=move || !media().screen>{strings::BADGE_SHARING}</span>
            </figcaption>
        </figure>
    }
}

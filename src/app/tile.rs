//! One participant's tile in the call grid: video, nickname, and their reported state.

use leptos::html::Video;
use leptos::prelude::*;

use super::session::Session;
use crate::protocol::ConnId;
use crate::strings;

/// Which stream a video element shows.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum StreamOf {
    /// My camera (or screen), as the preview and my own tile show it.
    Local,
    /// What another participant sends me.
    Peer(ConnId),
}

/// Keep `video` showing the stream `which()` names, re-attaching when tracks arrive or
/// change (`Session::media_epoch`). Browser only; on the server there is nothing to attach.
pub fn use_stream(video: NodeRef<Video>, which: impl Fn() -> StreamOf + Send + Sync + 'static) {
    let session = expect_context::<Session>();
    Effect::new(move |_| {
        session.media_epoch.track();
        let which = which();
        let Some(_video) = video.get() else { return };
        #[cfg(feature = "hydrate")]
        {
            let stream = match which {
                StreamOf::Local => crate::client::call::local_stream(),
                StreamOf::Peer(id) => crate::client::call::remote_stream(id),
            };
            if _video.src_object().map(|s| s.id()) != stream.as_ref().map(|s| s.id()) {
                _video.set_src_object(stream.as_ref());
            }
            let _ = _video.play();
        }
        let _ = which;
    });
}

#[component]
pub fn Tile(conn_id: ConnId) -> impl IntoView {
    let session = expect_context::<Session>();
    let is_me = move || session.me.get() == Some(conn_id);
    let video_ref = NodeRef::<Video>::new();
    use_stream(video_ref, move || if is_me() { StreamOf::Local } else { StreamOf::Peer(conn_id) });
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

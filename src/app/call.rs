//! The call panel of a room: camera preview and device pickers before joining; the grid of
//! tiles and the controls (mute, camera, screen, leave) in the call.
//!
//! Why the grid is arranged by a plain function ([`arrange`]): which tiles show, which one
//! is large and what hides behind "+N" is a rule worth testing without a browser. Up to
//! [`MAX_TILES`] tiles show at once; a pinned tile, else a screen share, else (in a big
//! call) the active speaker is featured large; my own tile is always there.

use leptos::html::Video;
use leptos::prelude::*;

use crate::i18n::{t, t_string, use_i18n};

use super::media::{self, StreamOf};
use super::session::{Device, Field, MediaAccess, Session};
use super::tile::{use_stream, Tile};
use crate::protocol::{CallMode, CallParticipant, ConnId, Quality, TrackKind};
use crate::strings;

/// Tiles shown at once; more people are summed up in a "+N more" tile.
pub const MAX_TILES: usize = 16;
/// From this many tiles on, the active speaker is featured (speaker view).
const SPEAKER_VIEW_FROM: usize = 10;

/// A tile: whose, and camera (`Video`) or screen.
pub type TileId = (ConnId, TrackKind);

/// What the grid shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrangement {
    /// Shown large, first.
    pub featured: Option<TileId>,
    /// Every tile shown, the featured one first, in join order otherwise.
    pub tiles: Vec<TileId>,
    /// People whose tiles do not fit.
    pub hidden: usize,
}

/// Arrange the call's tiles (see the module doc).
pub fn arrange(
    call: &[CallParticipant],
    me: Option<ConnId>,
    mode: CallMode,
    pinned: Option<TileId>,
    speaking: &[ConnId],
) -> Arrangement {
    let mut all: Vec<TileId> = Vec::new();
    for p in call {
        all.push((p.conn_id, TrackKind::Video));
        if mode == CallMode::Sfu && p.media.screen {
            all.push((p.conn_id, TrackKind::Screen));
        }
    }
    let featured = pinned
        .filter(|t| all.contains(t))
        .or_else(|| all.iter().copied().find(|t| t.1 == TrackKind::Screen))
        .or_else(|| {
            (all.len() >= SPEAKER_VIEW_FROM).then(|| {
                let speaker = speaking.iter().copied().find(|id| Some(*id) != me);
                let first_other = all.iter().map(|t| t.0).find(|id| Some(*id) != me);
                speaker.or(first_other).map(|id| (id, TrackKind::Video))
            })?
        });
    let mine = me.map(|id| (id, TrackKind::Video)).filter(|t| all.contains(t));
    let mut tiles: Vec<TileId> = featured.into_iter().collect();
    if let Some(m) = mine.filter(|m| Some(*m) != featured) {
        tiles.push(m);
    }
    let room = if all.len() > MAX_TILES { MAX_TILES - 1 } else { MAX_TILES };
    for t in &all {
        if tiles.len() >= room {
            break;
        }
        if !tiles.contains(t) {
            tiles.push(*t);
        }
    }
    // Keep join order after the featured tile (my own tile included).
    let order = |t: &TileId| all.iter().position(|a| a == t).unwrap_or(usize::MAX);
    let start = usize::from(featured.is_some());
    tiles[start..].sort_by_key(order);
    let hidden = all.len() - tiles.len();
    Arrangement { featured, tiles, hidden }
}

/// Open the camera/microphone while the room page is shown; release them when it goes.
/// Meanwhile, keep a connection to the SFU ready whenever I am in the room but not in its
/// call (on arrival, after leaving the call, after a reconnect): joining is then quicker.
fn use_local_media(session: Session) {
    Effect::new(move |_| media::start_preview(session));
    Effect::new(move |_| {
        let ready = session.joined.with(Option::is_some)
            && session.status.get() == super::session::ConnStatus::Online
            && !session.in_call.get();
        if ready {
            session.intend(crate::model::Intent::PrepareSfu);
        }
    });
    on_cleanup(move || media::stop_everything(session));
}

#[component]
pub fn CallPanel() -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    use_local_media(session);
    let in_call = move || session.in_call.get();

    view! {
        <section class="card call" aria-label=move || t_string!(i18n, call_heading)>
            <Show when=in_call fallback=move || view! { <Lobby/> }>
                <CallGrid/>
            </Show>
            <p class="call-error" role="alert">{move || session.call_error.get().map(|e| strings::call_error(i18n.get_locale(), &e))}</p>
            // My own connection is poor: say once what it means and what helps.
            <p class="quality-note" role="status" hidden=move || !(in_call() && session.media.get().quality == Quality::Poor)>
                {t!(i18n, quality_poor_note)}
            </p>
            <p class="muted device-note" role="status">{move || session.device_note.get().map(|n| strings::device_note(i18n.get_locale(), &n))}</p>
            <Controls/>
        </section>
    }
}

/// Before joining: my preview and who is already in the call.
#[component]
fn Lobby() -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    let video_ref = NodeRef::<Video>::new();
    use_stream(video_ref, || StreamOf::Local);
    let names = move || session.call.with(|c| c.iter().map(|p| p.nickname.clone()).collect::<Vec<_>>());
    // No camera can open on this page: no black preview either.
    let no_media = move || session.media_access.get() != MediaAccess::Available;
    view! {
        <div class="lobby" class:no-media=no_media>
            <video class="preview" node_ref=video_ref autoplay=true playsinline=true muted=true hidden=no_media aria-label=move || t_string!(i18n, preview_label)></video>
            <p class="muted in-call">
                {move || {
                    let names = names();
                    if names.is_empty() { t_string!(i18n, nobody_in_call).to_string() } else { strings::in_call(i18n.get_locale(), &names) }
                }}
            </p>
        </div>
    }
}

#[component]
fn CallGrid() -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    let arrangement = Memo::new(move |_| {
        let speaking = session.speaking.get();
        session.call.with(|c| {
            arrange(c, session.me.get(), session.call_mode.get(), session.pinned.get(), &speaking)
        })
    });
    let tiles = move || arrangement.with(|a| a.tiles.clone());
    let hidden = move || arrangement.with(|a| a.hidden);
    // What the grid shows, measured here and reported (the SFU sends each tile's size).
    on_cleanup(media::watch_tiles(session));
    view! {
        <div
            class="grid"
            class:featured=move || arrangement.with(|a| a.featured.is_some())
            data-count=move || arrangement.with(|a| a.tiles.len()).to_string()
        >
            <For each=tiles key=|t| *t children=|(conn_id, kind)| view! { <Tile conn_id kind/> }/>
            <Show when=move || { hidden() > 0 }>
                <div class="tile more" role="note">{move || strings::more_people(i18n.get_locale(), hidden())}</div>
            </Show>
        </div>
    }
}

#[component]
fn DevicePicker(
    id: &'static str,
    #[prop(into)]
    label: Signal<&'static str>,
    devices: Field<Vec<Device>>,
    chosen: Field<Option<String>>,
    kind: TrackKind,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let on_change = move |ev: leptos::ev::Event| {
        session.intend(crate::model::Intent::ChooseDevice(kind, event_target_value(&ev)));
        media::switch_device(session, kind);
    };
    view! {
        <div class="picker">
            <label for=id>{move || label.get()}</label>
            <select id=id on:change=on_change prop:value=move || chosen.get().unwrap_or_default()>
                <For
                    each=move || devices.get()
                    key=|d| (d.id.clone(), d.label.clone())
                    children=move |d: Device| {
                        let value = d.id.clone();
                        view! {
                            <option value=d.id selected=move || chosen.get().as_deref() == Some(value.as_str())>
                                {d.label}
                            </option>
                        }
                    }
                />
            </select>
        </div>
    }
}

#[component]
fn Controls() -> impl IntoView {
    let i18n = use_i18n();
    let session = expect_context::<Session>();
    let media = move || session.media.get();
    let in_call = move || session.in_call.get();

    let join = move |_| media::join_call(session);
    let leave = move |_| media::leave_call(session);
    let toggle_mic = move |_| session.intend(crate::model::Intent::ToggleSending(TrackKind::Audio));
    let toggle_cam = move |_| session.intend(crate::model::Intent::ToggleSending(TrackKind::Video));
    let toggle_screen = move |_| session.intend(crate::model::Intent::ToggleScreen);
    // Where calls cannot work (an insecure page), the explanation takes the pickers' place
    // and Join call stays disabled; chat is not affected.
    let no_media = move || session.media_access.get() != MediaAccess::Available;
    let why_no_media = move || match session.media_access.get() {
        MediaAccess::Available => String::new(),
        MediaAccess::Insecure => t_string!(i18n, calls_need_https).to_string(),
        MediaAccess::Unsupported => t_string!(i18n, calls_unsupported).to_string(),
    };

    view! {
        <div class="call-controls">
            <p class="call-unavailable" role="note">{why_no_media}</p>
            <div class="pickers" hidden=no_media>
                <DevicePicker id="camera" label=Signal::derive(move || t_string!(i18n, camera_label)) devices=session.cameras chosen=session.camera_id kind=TrackKind::Video/>
                <DevicePicker id="microphone" label=Signal::derive(move || t_string!(i18n, microphone_label)) devices=session.microphones chosen=session.microphone_id kind=TrackKind::Audio/>
            </div>
            <div class="buttons">
                <Show
                    when=in_call
                    // Not before I am in the room (choosing a name, or in its waiting room): the
                    // preview and the pickers are there to get ready meanwhile.
                    fallback=move || view! {
                        <button type="button" class="primary" on:click=join hidden=move || session.at_the_door() disabled=no_media>
                            {t!(i18n, join_call)}
                        </button>
                    }
                >
                    <button type="button" on:click=toggle_mic aria-pressed=move || (!media().audio).to_string()>
                        {move || if media().audio { t_string!(i18n, mute) } else { t_string!(i18n, unmute) }}
                    </button>
                    <button type="button" on:click=toggle_cam aria-pressed=move || (!media().video).to_string()>
                        {move || if media().video { t_string!(i18n, camera_off) } else { t_string!(i18n, camera_on) }}
                    </button>
                    <button type="button" on:click=toggle_screen aria-pressed=move || media().screen.to_string()>
                        {move || if media().screen { t_string!(i18n, stop_sharing) } else { t_string!(i18n, share_screen) }}
                    </button>
                    <button type="button" class="danger" on:click=leave>{t!(i18n, leave_call)}</button>
                </Show>
            </div>
        </div>
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::MediaState;

    fn people(n: u64, screen: &[u64]) -> Vec<CallParticipant> {
        (1..=n)
            .map(|id| CallParticipant {
                conn_id: id,
                nickname: format!("p{id}"),
                media: MediaState { audio: true, video: true, screen: screen.contains(&id), ..Default::default() },
            })
            .collect()
    }

    #[test]
    fn small_call_shows_everyone_in_join_order_and_pins() {
        let call = people(4, &[]);
        let a = arrange(&call, Some(3), CallMode::P2p, None, &[]);
        assert_eq!(a.featured, None);
        assert_eq!(a.tiles.iter().map(|t| t.0).collect::<Vec<_>>(), [1, 2, 3, 4]);
        let a = arrange(&call, Some(3), CallMode::P2p, Some((2, TrackKind::Video)), &[]);
        assert_eq!(a.featured, Some((2, TrackKind::Video)));
        assert_eq!(a.tiles.iter().map(|t| t.0).collect::<Vec<_>>(), [2, 1, 3, 4]);
        // A pin on someone who left is ignored.
        assert_eq!(arrange(&call, Some(3), CallMode::P2p, Some((9, TrackKind::Video)), &[]).featured, None);
    }

    #[test]
    fn screen_shares_are_extra_tiles_in_sfu_calls_and_featured() {
        let call = people(3, &[2]);
        let a = arrange(&call, Some(1), CallMode::Sfu, None, &[]);
        assert_eq!(a.featured, Some((2, TrackKind::Screen)));
        assert_eq!(a.tiles.len(), 4);
        // Peer to peer the screen replaces the camera: no extra tile.
        assert_eq!(arrange(&call, Some(1), CallMode::P2p, None, &[]).tiles.len(), 3);
    }

    #[test]
    fn big_call_features_the_speaker_keeps_me_and_sums_up_the_rest() {
        let call = people(50, &[]);
        let a = arrange(&call, Some(40), CallMode::Sfu, None, &[40, 33]);
        assert_eq!(a.featured, Some((33, TrackKind::Video)));
        assert_eq!(a.tiles.len(), MAX_TILES - 1);
        assert!(a.tiles.contains(&(40, TrackKind::Video)), "my own tile is always there");
        assert_eq!(a.hidden, 50 - (MAX_TILES - 1));
        let a = arrange(&call, Some(40), CallMode::Sfu, None, &[]);
        assert_eq!(a.featured, Some((1, TrackKind::Video)));
    }
}

//! The call panel of a room: camera preview and device pickers before joining; the grid of
//! tiles and the controls (mute, camera, screen, leave) in the call.

use leptos::html::Video;
use leptos::prelude::*;

use super::session::{Device, Session};
use super::tile::{use_stream, StreamOf, Tile};
use crate::strings;

/// Open the camera/microphone while the room page is shown; release them when it goes.
fn use_local_media(session: Session) {
    Effect::new(move |_| {
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(crate::client::call::start_preview(session));
    });
    on_cleanup(move || {
        #[cfg(feature = "hydrate")]
        crate::client::call::stop_everything(session);
        let _ = session;
    });
}

#[component]
pub fn CallPanel() -> impl IntoView {
    let session = expect_context::<Session>();
    use_local_media(session);
    let in_call = move || session.in_call.get();

    view! {
        <section class="card call" aria-label=strings::CALL_HEADING>
            <Show when=in_call fallback=move || view! { <Lobby/> }>
                <CallGrid/>
            </Show>
            <p class="call-error" role="alert">{move || session.call_error.get()}</p>
            <p class="muted device-note" role="status">{move || session.device_note.get()}</p>
            <Controls/>
        </section>
    }
}

/// Before joining: my preview and who is already in the call.
#[component]
fn Lobby() -> impl IntoView {
    let session = expect_context::<Session>();
    let video_ref = NodeRef::<Video>::new();
    use_stream(video_ref, || StreamOf::Local);
    let names = move || session.call.with(|c| c.iter().map(|p| p.nickname.clone()).collect::<Vec<_>>());
    view! {
        <div class="lobby">
            <video class="preview" node_ref=video_ref autoplay=true playsinline=true muted=true aria-label=strings::PREVIEW_LABEL></video>
            <p class="muted in-call">
                {move || {
                    let names = names();
                    if names.is_empty() { strings::NOBODY_IN_CALL.to_string() } else { strings::in_call(&names) }
                }}
            </p>
        </div>
    }
}

#[component]
fn CallGrid() -> impl IntoView {
    let session = expect_context::<Session>();
    let ids = move || session.call.with(|c| c.iter().map(|p| p.conn_id).collect::<Vec<_>>());
    view! {
        <div class="grid" data-count=move || ids().len().to_string()>
            <For each=ids key=|id| *id children=|conn_id| view! { <Tile conn_id/> }/>
        </div>
    }
}

#[component]
fn DevicePicker(
    id: &'static str,
    label: &'static str,
    devices: RwSignal<Vec<Device>>,
    chosen: RwSignal<Option<String>>,
    kind: &'static str,
) -> impl IntoView {
    let session = expect_context::<Session>();
    let on_change = move |ev: leptos::ev::Event| {
        chosen.set(Some(event_target_value(&ev)));
        #[cfg(feature = "hydrate")]
        leptos::task::spawn_local(crate::client::call::switch_device(session, kind));
        let _ = (session, kind);
    };
    view! {
        <div class="picker">
            <label for=id>{label}</label>
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
    let session = expect_context::<Session>();
    let media = move || session.media.get();
    let in_call = move || session.in_call.get();

    let join = move |_| {
        #[cfg(feature = "hydrate")]
        session.join_call(crate::client::call::available_media());
    };
    let leave = move |_| {
        #[cfg(feature = "hydrate")]
        {
            crate::client::call::stop_screen_share(session);
            crate::client::call::close_peers(session);
        }
        session.leave_call();
    };
    let toggle_mic = move |_| {
        #[cfg(feature = "hydrate")]
        crate::client::call::set_sending(session, "audio", !session.media.get_untracked().audio);
    };
    let toggle_cam = move |_| {
        #[cfg(feature = "hydrate")]
        crate::client::call::set_sending(session, "video", !session.media.get_untracked().video);
    };
    let toggle_screen = move |_| {
        #[cfg(feature = "hydrate")]
        {
            if session.media.get_untracked().screen {
                crate::client::call::stop_screen_share(session);
            } else {
                leptos::task::spawn_local(crate::client::call::start_screen_share(session));
            }
        }
    };

    view! {
        <div class="call-controls">
            <div class="pickers">
                <DevicePicker id="camera" label=strings::CAMERA_LABEL devices=session.cameras chosen=session.camera_id kind="video"/>
                <DevicePicker id="microphone" label=strings::MICROPHONE_LABEL devices=session.microphones chosen=session.microphone_id kind="audio"/>
            </div>
            <div class="buttons">
                <Show
                    when=in_call
                    fallback=move || view! { <button type="button" class="primary" on:click=join>{strings::JOIN_CALL}</button> }
                >
                    <button type="button" on:click=toggle_mic aria-pressed=move || (!media().audio).to_string()>
                        {move || if media().audio { strings::MUTE } else { strings::UNMUTE }}
                    </button>
                    <button type="button" on:click=toggle_cam aria-pressed=move || (!media().video).to_string()>
                        {move || if media().video { strings::CAMERA_OFF } else { strings::CAMERA_ON }}
                    </button>
                    <button type="button" on:click=toggle_screen aria-pressed=move || media().screen.to_string()>
                        {move || if media().screen { strings::STOP_SHARING } else { strings::SHARE_SCREEN }}
                    </button>
                    <button type="button" class="danger" on:click=leave>{strings::LEAVE_CALL}</button>
                </Show>
            </div>
        </div>
    }
}

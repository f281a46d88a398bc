//! The connection: online or not, who I am, and where I want to be.
//!
//! Why the model replays on reconnect: a meeting app must survive a server restart or a
//! flaky network without a reload. Each new socket gets my nickname, my place (with the
//! last seq I have, so only what I missed comes back), my call and my unacked lines.

use crate::protocol::{ClientMsg, ConnId};

use super::{Banner, ClientState, Effect, EngineCommand, Intent};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnStatus {
    Connecting,
    Online,
    Offline,
}

/// Where the person wants to be; re-sent to the server after every reconnect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    Home,
    Room(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub status: ConnStatus,
    /// A socket is up: frames can be sent (else they wait for the replay).
    pub online: bool,
    pub me: Option<ConnId>,
    pub nickname: String,
    /// The person chose their nickname (now or on an earlier visit): until then, a room
    /// link asks for one before entering instead of showing them as "Anonymous".
    pub named: bool,
    /// This browser's id (a host's removal holds for it).
    pub device: String,
}

impl ClientState {
    /// A new socket is up: tell the server who we are and where we are, then replay
    /// every message that was not acked (it may have been lost with the old socket).
    pub(crate) fn on_connected(&mut self, fx: &mut Vec<Effect>) {
        self.conn.online = true;
        self.send(fx, ClientMsg::SetNick { req_id: None, nickname: self.conn.nickname.clone() });
        match self.place.clone() {
            super::Place::Home => self.send(fx, ClientMsg::WatchRooms { req_id: None }),
            super::Place::Room(room) => {
                // Only what I missed, if my log's numbering is this database's.
                let epoch = self.chat.epoch.clone();
                let since = epoch.as_ref().and(self.chat.last_seq());
                let device = Some(self.conn.device.clone());
                let password = self.room.password_for(&room);
                self.send(fx, ClientMsg::Join { req_id: None, room, since, epoch: since.and(epoch), device, password });
                // Peer connections were torn down with the old socket (our id changed):
                // join the call again and they are rebuilt.
                if self.call.wants_call {
                    self.send(fx, ClientMsg::CallJoin { req_id: None, media: self.call.media });
                }
            }
        }
        self.resend(|_| true, fx);
    }

    pub(crate) fn on_disconnected(&mut self, close: Option<(u16, String)>, fx: &mut Vec<Effect>) {
        // Closed by policy (flooding, too big, server full): say why.
        if let Some((code, reason)) = close {
            if code != 1000 && code != 1001 && code != 1006 && !reason.is_empty() {
                self.error = Some(Banner::Closed(reason));
            }
        }
        self.conn.online = false;
        self.conn.status = ConnStatus::Offline;
        self.joined = None;
        self.left_call();
        self.call.participants.clear();
        // Our connection id dies with the socket: peers are rebuilt after re-joining.
        fx.push(Effect::Engine(EngineCommand::Disconnected));
    }

    pub(crate) fn on_intent(&mut self, intent: Intent, fx: &mut Vec<Effect>) {
        match intent {
            Intent::SetNickname(nickname) => {
                self.conn.nickname = nickname.clone();
                self.conn.named = true;
                let req_id = self.next_key();
                self.send(fx, ClientMsg::SetNick { req_id: Some(req_id), nickname: nickname.clone() });
                fx.push(Effect::SaveNickname(nickname));
            }
            Intent::GoHome => self.go_home(fx),
            Intent::Enter(room) => self.enter(room, fx),
            Intent::EnterWithPassword(password) => self.enter_with_password(password, fx),
            Intent::SetRoomPassword(password) => self.set_room_password(password, fx),
            Intent::SendChat { text, client_msg_id } => self.send_chat(text, client_msg_id, fx),
            Intent::LoadEarlier => self.load_earlier(fx),
            Intent::Request(request) => {
                let req_id = self.next_key();
                self.send(fx, request.to_msg(Some(req_id)));
            }
            Intent::React(emoji) => self.send(fx, ClientMsg::React { emoji }),
            Intent::JoinCall(media) => self.join_call(media, fx),
            Intent::LeaveCall => self.leave_call(fx),
            Intent::TogglePin(conn_id, kind) => {
                let tile = Some((conn_id, kind));
                self.call.pinned = if self.call.pinned == tile { None } else { tile };
            }
            Intent::ChooseDevice(kind, id) => self.devices.choose(kind, id),
            Intent::ShowTiles(tiles) => self.call.shown = tiles,
            Intent::ToggleSending(kind) => self.toggle_sending(kind, fx),
            Intent::ToggleScreen => self.toggle_screen(fx),
            Intent::PrepareSfu => self.prepare_sfu(fx),
        }
    }

    fn enter(&mut self, room: String, fx: &mut Vec<Effect>) {
        if self.place == super::Place::Room(room.clone()) {
            return;
        }
        self.move_to(super::Place::Room(room.clone()), fx);
        self.error = None;
        let password = self.room.password_for(&room);
        let device = Some(self.conn.device.clone());
        self.send(fx, ClientMsg::Join { req_id: None, room: room.clone(), since: None, epoch: None, device, password });
        // What I typed here before a reload and the server never acknowledged.
        fx.push(Effect::LoadOutbox(room));
    }
}

//! My room: who is in it, its hosts, lock, waiting room and password, raised hands and
//! reactions; and the one `match` over server messages ([`ClientState::on_server`]), which
//! hands chat and call messages to their own files.
//!
//! Why every arm checks the room: after switching rooms, a late message for the old one
//! must not land in the new one's state.

use crate::protocol::{ClientMsg, ConnId, ErrorCode, Member, ServerMsg, TrackKind};

use super::{Banner, ClientState, Effect, EngineCommand, LogEntry, Notice, Place, Refusal};

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomState {
    pub members: Vec<Member>,
    /// A host locked my room.
    pub locked: bool,
    /// My room's waiting room is on.
    pub lobby: bool,
    /// I wait in the room's waiting room for a host to let me in.
    pub waiting: bool,
    /// Hosts: who waits to come in.
    pub lobby_queue: Vec<Member>,
    /// My room has a password.
    pub protected: bool,
    /// The room I want to enter asks for its password: the prompt shows, with why the
    /// last one was refused (`password_note`), and whether one is being checked.
    pub needs_password: bool,
    pub password_note: Option<Refusal>,
    pub checking_password: bool,
    /// The password I gave (or set) for a room, sent again when I reconnect to it. Only
    /// in memory: a reload asks again.
    pub password: Option<(String, String)>,
    /// Raised hands in my room, in the order they went up.
    pub hands: Vec<ConnId>,
    /// Recent reactions in my room (a key, who, which emoji): the tiles float them.
    pub reactions: Vec<(u64, ConnId, String)>,
}

/// Reactions kept at a time: older ones have floated away.
const REACTIONS_KEPT: usize = 20;

impl RoomState {
    /// The password I know for `room`, if any.
    pub fn password_for(&self, room: &str) -> Option<String> {
        self.password.as_ref().filter(|(r, _)| r == room).map(|(_, pw)| pw.clone())
    }
}

impl ClientState {
    pub(crate) fn enter_with_password(&mut self, password: String, fx: &mut Vec<Effect>) {
        let Place::Room(room) = self.place.clone() else { return };
        self.room.password = Some((room.clone(), password.clone()));
        self.room.checking_password = true;
        self.room.password_note = None;
        let device = Some(self.conn.device.clone());
        self.send(fx, ClientMsg::Join { req_id: None, room, since: None, epoch: None, device, password: Some(password) });
    }

    pub(crate) fn set_room_password(&mut self, password: Option<String>, fx: &mut Vec<Effect>) {
        if let (Place::Room(room), Some(pw)) = (&self.place, &password) {
            self.room.password = Some((room.clone(), pw.clone()));
        }
        let req_id = Some(self.next_key());
        self.send(fx, ClientMsg::SetPassword { req_id, password });
    }

    /// Apply one server message to the state.
    pub(crate) fn on_server(&mut self, msg: ServerMsg, fx: &mut Vec<Effect>) {
        match msg {
            ServerMsg::Welcome { conn_id, .. } => {
                self.conn.me = Some(conn_id);
                self.conn.status = super::ConnStatus::Online;
            }
            ServerMsg::Ack { req_id, message } => {
                if let Some(m) = message {
                    self.chat.acked(req_id, m);
                    self.save_outbox(fx);
                }
            }
            ServerMsg::Joined { room, members, history, call, earlier, more, epoch, locked, hands, lobby, protected, .. } => {
                if self.place != Place::Room(room.clone()) {
                    return;
                }
                // Another database (replaced, restored): the seqs I kept mean nothing there.
                if self.chat.epoch.as_ref().is_some_and(|e| *e != epoch) {
                    self.chat.log_mut().retain(|e| matches!(e, LogEntry::Chat(l) if l.id.is_none()));
                }
                self.chat.epoch = Some(epoch);
                let resume_from = history.last().map(|m| m.seq);
                self.joined = Some(room.clone());
                let r = &mut self.room;
                r.members = members;
                (r.locked, r.lobby, r.protected, r.hands) = (locked, lobby, protected, hands);
                (r.waiting, r.needs_password, r.password_note, r.checking_password) = (false, false, None, false);
                self.call.participants = call;
                // Resuming, I know what lies before my log already; fresh, the server says.
                if self.chat.last_seq().is_none() {
                    self.chat.earlier = earlier;
                }
                // After a reconnect this fills in what was said while we were away.
                for m in history {
                    self.push_message(m);
                }
                if more {
                    self.send(fx, ClientMsg::History { req_id: None, room, before: None, after: resume_from, limit: None });
                }
            }
            ServerMsg::History { room, messages, more, backwards, .. } => {
                if !self.in_room(&room) {
                    return;
                }
                let last = messages.last().map(|m| m.seq);
                for m in messages {
                    self.push_message(m);
                }
                if backwards {
                    self.chat.earlier = more;
                    self.chat.loading_earlier = false;
                } else if more {
                    self.send(fx, ClientMsg::History { req_id: None, room, before: None, after: last, limit: None });
                }
            }
            ServerMsg::Message { message } => {
                if self.in_room(&message.room) {
                    self.push_message(message);
                }
            }
            // The server skipped frames for me, acks among them: my pending messages go
            // again (same `client_msg_id`, so each is stored once and acked again). The
            // `joined` that follows brings what was missed.
            ServerMsg::Lagged { .. } => self.resend(|_| true, fx),
            ServerMsg::Rooms { rooms } => self.rooms = rooms,
            ServerMsg::MemberJoined { room, member } => {
                if self.in_room(&room) {
                    self.notice(Notice::Joined { nick: member.nickname.clone() });
                    if !self.room.members.iter().any(|m| m.conn_id == member.conn_id) {
                        self.room.members.push(member);
                    }
                }
            }
            ServerMsg::MemberLeft { room, member, removed_by } => {
                if !self.in_room(&room) {
                    return;
                }
                let nick = member.nickname.clone();
                match removed_by {
                    Some(by) => self.notice(Notice::Removed { nick, by: self.nickname_of(by) }),
                    None => self.notice(Notice::Left { nick }),
                }
                self.room.members.retain(|m| m.conn_id != member.conn_id);
            }
            ServerMsg::Hosts { room, hosts, by } => {
                if !self.in_room(&room) {
                    return;
                }
                let before: Vec<ConnId> = self.room.members.iter().filter(|m| m.host).map(|m| m.conn_id).collect();
                for new in hosts.iter().filter(|id| !before.contains(id)) {
                    let notice = Notice::MadeHost { nick: self.nickname_of(*new), by: by.map(|by| self.nickname_of(by)) };
                    self.notice(notice);
                }
                self.room.members.iter_mut().for_each(|m| m.host = hosts.contains(&m.conn_id));
            }
            ServerMsg::Locked { room, locked, by } => {
                if self.in_room(&room) {
                    self.notice(Notice::Locked { by: self.nickname_of(by), locked });
                    self.room.locked = locked;
                }
            }
            ServerMsg::Hands { room, hands, by } => {
                if !self.in_room(&room) {
                    return;
                }
                let before = std::mem::take(&mut self.room.hands);
                for up in hands.iter().filter(|id| !before.contains(id)) {
                    self.notice(Notice::RaisedHand { nick: self.nickname_of(*up) });
                }
                if let Some(by) = by {
                    for down in before.iter().filter(|id| !hands.contains(id)) {
                        self.notice(Notice::LoweredHand { nick: self.nickname_of(*down), by: self.nickname_of(by) });
                    }
                }
                self.room.hands = hands;
            }
            ServerMsg::Removed { room, nickname, .. } => {
                self.go_home(fx);
                self.error = Some(Banner::RemovedFrom { room, by: nickname });
            }
            ServerMsg::MuteRequest { nickname, force, .. } => {
                if force {
                    if self.call.media.audio {
                        fx.push(Effect::Engine(EngineCommand::SetSending { kind: TrackKind::Audio, on: false }));
                    }
                    self.notice(Notice::MutedBy { by: nickname });
                } else {
                    self.notice(Notice::AskedToMute { by: nickname });
                }
            }
            ServerMsg::Waiting { room } => {
                if self.place == Place::Room(room) {
                    self.room.waiting = true;
                }
            }
            ServerMsg::Lobby { room, waiting } => {
                if self.in_room(&room) {
                    self.room.lobby_queue = waiting;
                }
            }
            ServerMsg::LobbyChanged { room, enabled, by } => {
                if self.in_room(&room) {
                    self.notice(Notice::Lobby { by: self.nickname_of(by), enabled });
                    self.room.lobby = enabled;
                }
            }
            ServerMsg::PasswordChanged { room, protected, by } => {
                if self.in_room(&room) {
                    self.notice(Notice::Password { by: self.nickname_of(by), protected });
                    self.room.protected = protected;
                }
            }
            ServerMsg::Reaction { conn_id, emoji } => {
                let key = self.next_key();
                let r = &mut self.room.reactions;
                r.push((key, conn_id, emoji));
                let excess = r.len().saturating_sub(REACTIONS_KEPT);
                r.drain(..excess);
            }
            ServerMsg::NickChanged { conn_id, old, new } => {
                self.notice(Notice::Renamed { old, new: new.clone() });
                for p in self.call.participants.iter_mut().filter(|p| p.conn_id == conn_id) {
                    p.nickname = new.clone();
                }
                for m in self.room.members.iter_mut().filter(|m| m.conn_id == conn_id) {
                    m.nickname = new.clone();
                }
            }
            ServerMsg::CallJoined { .. }
            | ServerMsg::CallParticipantJoined { .. }
            | ServerMsg::CallParticipantLeft { .. }
            | ServerMsg::CallParticipantState { .. }
            | ServerMsg::CallModeChanged { .. }
            | ServerMsg::CallTracks { .. }
            | ServerMsg::CallPaused { .. }
            | ServerMsg::CallLayers { .. }
            | ServerMsg::Signal { .. } => self.on_call_msg(msg),
            ServerMsg::Error { req_id, code, message } => self.on_error(req_id, Refusal { code, message }, fx),
        }
    }

    fn on_error(&mut self, req_id: Option<u64>, refusal: Refusal, fx: &mut Vec<Effect>) {
        match refusal.code {
            ErrorCode::CallFull => {
                self.call.wants_call = false;
                self.call.error = Some(super::CallError::Refused(refusal));
            }
            // The room would not have me (locked, a host removed me or did not let me
            // in): back home, and say why.
            ErrorCode::RoomLocked | ErrorCode::Removed | ErrorCode::Denied => {
                self.go_home(fx);
                self.error = Some(Banner::Refusal(refusal));
            }
            // The room asks for its password (or the one I gave was wrong): the prompt
            // shows, saying why; a wrong one is not sent again on reconnect.
            ErrorCode::PasswordRequired | ErrorCode::WrongPassword | ErrorCode::TooManyTries => {
                if !matches!(self.place, Place::Room(_)) {
                    return;
                }
                if refusal.code == ErrorCode::WrongPassword {
                    self.room.password = None;
                }
                self.room.needs_password = true;
                self.room.checking_password = false;
                self.room.password_note = (refusal.code != ErrorCode::PasswordRequired).then_some(refusal);
            }
            _ => {
                let was_chat = req_id.is_some_and(|id| self.chat.refused(id, refusal.code, &refusal.message));
                if was_chat {
                    self.save_outbox(fx);
                } else {
                    // A history page that could not be read may be asked for again.
                    self.chat.loading_earlier = false;
                    self.error = Some(Banner::Refusal(refusal));
                }
            }
        }
    }
}

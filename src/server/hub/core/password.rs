//! The hub's side of room passwords: asking for them, checking them off the hub's thread,
//! slowing down wrong guesses, and setting them.
//!
//! Why the hub keeps every protected room's hash (read at start-up, see `open_store`):
//! whether someone may enter must be decided where every other entry rule is, at once,
//! and before anything of the room (its members, its history) reaches them. The hashes are
//! few and small; the store keeps them for good (`rooms.password_hash`).
//!
//! Why a check goes away and comes back: Argon2 takes tens of milliseconds of a core on
//! purpose. The core asks for it (`Effect::Password`), the loop hands it to
//! [`Passwords`](crate::server::password::Passwords), and the outcome ([`Done`]) comes back
//! as an input; the `join` is then decided again from the start (the room may have been
//! locked, or its password changed, meanwhile). So the core never runs Argon2, and its
//! tests feed the outcome they want.
//!
//! Why wrong guesses wait: one connection gets [`FREE_TRIES`] wrong passwords, then waits
//! 1 s, 2 s, 4 s … up to [`MAX_WAIT`] between tries (`too_many_tries`), and has at most one
//! check under way. Together with the server-wide cap on checks at once, guessing a
//! password costs far more than typing it.

use std::collections::HashMap;
use std::time::Duration;

use super::moderation::JoinRequest;
use super::{Core, Effect, PasswordHashString, PasswordJob};
use crate::protocol::{ConnId, ErrorCode, ReqId, ServerMsg};
use crate::server::store::StoreCmd;

/// Every protected room, by name, with its password's hash.
pub type RoomPasswords = HashMap<String, PasswordHashString>;

/// Wrong passwords a connection may give before it has to wait between tries.
pub const FREE_TRIES: u32 = 3;
/// The longest wait between tries.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// Password work that finished off the hub's thread.
#[derive(Debug)]
pub enum Done {
    /// `request`'s password was checked against `hash`.
    Checked { conn_id: ConnId, check: u64, request: JoinRequest, hash: PasswordHashString, ok: bool },
    /// A host's new password is hashed (None: hashing failed).
    Hashed { by: ConnId, req_id: Option<ReqId>, room: String, hash: Option<String> },
}

impl Done {
    /// The connection the work was for.
    pub fn conn_id(&self) -> ConnId {
        match self {
            Done::Checked { conn_id, .. } => *conn_id,
            Done::Hashed { by, .. } => *by,
        }
    }
}

/// How long a connection with `wrong` wrong tries in a row waits before the next.
fn wait_after(wrong: u32) -> Option<Duration> {
    let over = wrong.checked_sub(FREE_TRIES)?;
    Some(Duration::from_secs(1u64 << over.min(6)).min(MAX_WAIT))
}

impl Core {
    /// `req` is for a room with this password: check the one it gave, off the hub's thread.
    pub(super) fn check_password(&mut self, conn_id: ConnId, req: JoinRequest, hash: PasswordHashString) {
        if req.password.is_none() {
            self.error(conn_id, req.req_id, ErrorCode::PasswordRequired, "This room has a password.");
            return;
        }
        let conn = self.conns.get_mut(&conn_id).expect("checked by request()");
        if conn.password_check.is_some() {
            self.error(conn_id, req.req_id, ErrorCode::RateLimited, "Still checking your last password.");
            return;
        }
        let now = self.now.mono;
        if let Some(at) = conn.retry_at.filter(|at| *at > now) {
            let secs = (at - now).as_secs_f64().ceil() as u64;
            let why = format!("Too many wrong passwords: try again in {secs} s.");
            self.error(conn_id, req.req_id, ErrorCode::TooManyTries, &why);
            return;
        }
        self.checks += 1;
        let check = self.checks;
        conn.password_check = Some(check);
        self.fx.push(Effect::Password(PasswordJob::Check { conn_id, check, request: req, hash }));
    }

    /// Password work finished: go on with what was waiting for it.
    pub(super) fn password_done(&mut self, done: Done) {
        match done {
            Done::Checked { conn_id, check, request, hash, ok } => self.password_checked(conn_id, check, request, hash, ok),
            Done::Hashed { by, req_id, room, hash } => self.password_hashed(by, req_id, room, hash),
        }
    }

    fn password_checked(&mut self, conn_id: ConnId, check: u64, req: JoinRequest, hash: PasswordHashString, ok: bool) {
        let Some(conn) = self.conns.get_mut(&conn_id) else { return };
        // A wrong guess counts even if the connection went elsewhere meanwhile.
        if ok {
            conn.wrong_tries = 0;
            conn.retry_at = None;
        } else {
            conn.wrong_tries += 1;
            conn.retry_at = wait_after(conn.wrong_tries).map(|d| self.now.mono + d);
            tracing::info!(conn_id, room = %req.room, tries = conn.wrong_tries, "wrong room password");
        }
        if conn.password_check != Some(check) {
            return;
        }
        conn.password_check = None;
        if ok {
            // Decided again from the start: locked or changed meanwhile is seen now.
            conn.unlocked = Some((req.room.clone(), hash));
            self.join_request(conn_id, req);
        } else {
            self.error(conn_id, req.req_id, ErrorCode::WrongPassword, "Wrong password.");
        }
    }

    /// A host sets (or with None removes) their room's password.
    pub(super) fn set_password(&mut self, by: ConnId, req_id: Option<ReqId>, new: Option<String>) {
        let Some(room) = self.hosted_room(by, req_id) else { return };
        match new {
            None => self.save_password(by, req_id, room, None),
            Some(password) => self.fx.push(Effect::Password(PasswordJob::Hash { by, req_id, room, password })),
        }
    }

    fn password_hashed(&mut self, by: ConnId, req_id: Option<ReqId>, room: String, hash: Option<String>) {
        let still_host = self.conns.get(&by).is_some_and(|c| c.room.as_deref() == Some(room.as_str()))
            && self.rooms.get(&room).is_some_and(|r| r.hosts.contains(&by));
        if !still_host {
            return;
        }
        match hash {
            Some(hash) => self.save_password(by, req_id, room, Some(hash.into())),
            None => self.error(by, req_id, ErrorCode::StoreUnavailable, "The password could not be set; try again."),
        }
    }

    /// Write it down first: a password the host was told is set must survive a restart.
    fn save_password(&mut self, by: ConnId, req_id: Option<ReqId>, room: String, hash: Option<PasswordHashString>) {
        self.fx.push(Effect::Store(StoreCmd::SetPassword { by, req_id, room, hash }));
    }

    /// The store wrote a password change: it holds from now on, and the room is told.
    pub(super) fn password_saved(
        &mut self,
        by: ConnId,
        req_id: Option<ReqId>,
        room: String,
        hash: Option<PasswordHashString>,
        ok: bool,
    ) {
        if !ok {
            self.error(by, req_id, ErrorCode::StoreUnavailable, "The password could not be saved; try again.");
            return;
        }
        let protected = hash.is_some();
        match hash {
            Some(hash) => self.passwords.insert(room.clone(), hash),
            None => self.passwords.remove(&room),
        };
        tracing::info!(%room, protected, "room password changed");
        self.broadcast(&room, ServerMsg::PasswordChanged { room: room.clone(), protected, by }, None);
        self.room_list_changed();
        self.ack(by, req_id, None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_tries_wait_longer_each_time_up_to_a_minute() {
        let waits: Vec<Option<u64>> = (1..=12).map(|n| wait_after(n).map(|d| d.as_secs())).collect();
        assert_eq!(waits, [None, None, Some(1), Some(2), Some(4), Some(8), Some(16), Some(32), Some(60), Some(60), Some(60), Some(60)]);
    }
}

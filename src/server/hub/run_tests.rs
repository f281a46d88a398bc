//! The loop's tests: the real loop, the real in-memory store, real time (paused).

use std::time::Duration;

use tokio::sync::mpsc;

use super::run::Hub;
use super::*;
use crate::limits::HISTORY_LEN;
use crate::protocol::{RoomInfo, ServerMsg};

fn join(room: &str) -> ClientMsg {
    ClientMsg::Join { req_id: Some(1), room: room.into(), since: None, epoch: None, device: None, password: None }
}

/// A running hub with an in-memory store.
fn spawn() -> mpsc::Sender<Command> {
    let (tx, rx) = mpsc::channel(INBOX_CAPACITY);
    let (store, replies) = StoreHandle::in_memory();
    tokio::spawn(Hub::new(CallSettings::default(), store, RoomPasswords::new()).run(rx, replies));
    tx
}

fn drain(rx: &mut mpsc::Receiver<Frame>) -> Vec<ServerMsg> {
    std::iter::from_fn(|| rx.try_recv().ok()).map(|f| serde_json::from_str(f.as_str()).unwrap()).collect()
}

#[tokio::test(start_paused = true)]
async fn room_list_updates_are_coalesced_and_only_for_watchers() {
    let tx = spawn();
    let (w_tx, mut watcher) = mpsc::channel(1024);
    let (r_tx, mut in_room) = mpsc::channel(1024);
    tx.send(Command::Connect { conn_id: 1, outbox: w_tx, host: "".into() }).await.unwrap();
    tx.send(Command::Request { conn_id: 1, msg: ClientMsg::WatchRooms { req_id: None } }).await.unwrap();
    tx.send(Command::Connect { conn_id: 2, outbox: r_tx, host: "".into() }).await.unwrap();
    // 50 members join in one burst.
    let mut keep = Vec::new();
    for id in 3..53 {
        let (t, r) = mpsc::channel(1024);
        keep.push(r);
        tx.send(Command::Connect { conn_id: id, outbox: t, host: "".into() }).await.unwrap();
        tx.send(Command::Request { conn_id: id, msg: join("busy") }).await.unwrap();
    }
    tx.send(Command::Request { conn_id: 2, msg: join("quiet") }).await.unwrap();
    tokio::time::sleep(ROOM_LIST_INTERVAL * 3).await;

    let lists: Vec<Vec<RoomInfo>> = drain(&mut watcher)
        .into_iter()
        .filter_map(|m| match m {
            ServerMsg::Rooms { rooms } => Some(rooms),
            _ => None,
        })
        .collect();
    // The initial (empty) list, then one coalesced update for the whole burst.
    assert_eq!(lists.len(), 2, "{lists:?}");
    assert_eq!(
        lists[1],
        vec![
            RoomInfo { name: "busy".into(), count: 50, locked: false, protected: false },
            RoomInfo { name: "quiet".into(), count: 1, locked: false, protected: false }
        ]
    );
    assert!(!drain(&mut in_room).iter().any(|m| matches!(m, ServerMsg::Rooms { .. })), "a member in a room got the room list");
}

#[tokio::test]
async fn chat_goes_through_the_store_and_a_late_joiner_reads_it() {
    let tx = spawn();
    let (a_tx, mut a) = mpsc::channel(1024);
    tx.send(Command::Connect { conn_id: 1, outbox: a_tx, host: "".into() }).await.unwrap();
    tx.send(Command::Request { conn_id: 1, msg: join("r") }).await.unwrap();
    for i in 0..(HISTORY_LEN + 5) {
        let msg = ClientMsg::Chat { req_id: Some(i as u64), text: format!("m{i}"), client_msg_id: None };
        tx.send(Command::Request { conn_id: 1, msg }).await.unwrap();
    }
    let (b_tx, mut b) = mpsc::channel(1024);
    tx.send(Command::Connect { conn_id: 2, outbox: b_tx, host: "".into() }).await.unwrap();
    tx.send(Command::Request { conn_id: 2, msg: join("r") }).await.unwrap();
    // The store runs on a thread of its own: wait (in real time) for its answers.
    let mut msgs = Vec::new();
    for _ in 0..500 {
        msgs.extend(drain(&mut b));
        if msgs.iter().any(|m| matches!(m, ServerMsg::Joined { .. })) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let acks = drain(&mut a).iter().filter(|m| matches!(m, ServerMsg::Ack { message: Some(_), .. })).count();
    assert_eq!(acks, HISTORY_LEN + 5);
    let ServerMsg::Joined { members, history, .. } = &msgs[1] else { panic!("{msgs:?}") };
    assert_eq!(members.iter().map(|m| m.conn_id).collect::<Vec<_>>(), vec![1, 2]);
    assert_eq!(history.len(), HISTORY_LEN);
    assert_eq!(history.last().unwrap().seq, (HISTORY_LEN + 5) as u64);
}

//! The store's rules, run against both backends.

use super::*;

fn msg(room: &str, text: &str, cid: Option<&str>, ts: u64) -> NewMessage {
    NewMessage {
        room: room.into(),
        from: 7,
        nickname: "Ann".into(),
        text: text.into(),
        client_msg_id: cid.map(str::to_string),
        ts,
    }
}

fn texts(page: &Page) -> Vec<&str> {
    page.messages.iter().map(|m| m.text.as_str()).collect()
}

async fn numbers_each_room_and_pages_both_ways(store: &mut impl ChatStore) {
    let batch: Vec<NewMessage> = (1..=10).map(|i| msg(if i % 2 == 0 { "b" } else { "a" }, &format!("m{i}"), None, i)).collect();
    let stored = store.append(&batch).await.unwrap();
    let a: Vec<(u64, &str)> =
        stored.iter().filter(|s| s.message.room == "a").map(|s| (s.message.seq, s.message.text.as_str())).collect();
    assert_eq!(a, [(1, "m1"), (2, "m3"), (3, "m5"), (4, "m7"), (5, "m9")], "each room counts 1, 2, 3…");
    let ids: std::collections::HashSet<u64> = stored.iter().map(|s| s.message.id).collect();
    assert_eq!(ids.len(), 10, "ids are unique");

    let recent = store.before("a", u64::MAX, 3).await.unwrap();
    assert_eq!((texts(&recent), recent.more), (vec!["m5", "m7", "m9"], true), "newest three, oldest first");
    let older = store.before("a", 3, 3).await.unwrap();
    assert_eq!((texts(&older), older.more), (vec!["m1", "m3"], false), "back to the beginning");
    let missed = store.after("a", 2, 2).await.unwrap();
    assert_eq!((texts(&missed), missed.more), (vec!["m5", "m7"], true));
    let rest = store.after("a", 4, 2).await.unwrap();
    assert_eq!((texts(&rest), rest.more), (vec!["m9"], false));
    assert_eq!(store.after("nowhere", 0, 10).await.unwrap(), Page::default());
}

async fn a_resent_client_msg_id_gets_the_stored_message_back(store: &mut impl ChatStore) {
    let first = store.append(&[msg("r", "hello", Some("c-1"), 100)]).await.unwrap();
    // Resent in a later batch (another connection, after a reconnect), and twice in one batch.
    let again = store.append(&[msg("r", "hello", Some("c-1"), 200), msg("r", "x", Some("c-2"), 201), msg("r", "x", Some("c-2"), 202)]).await.unwrap();
    assert!(!first[0].duplicate);
    assert_eq!(again[0], Appended { message: first[0].message.clone(), duplicate: true }, "same id, seq and ts");
    assert!(!again[1].duplicate && again[2].duplicate);
    assert_eq!(again[1].message, again[2].message);
    // The same client id in another room is another message.
    let other = store.append(&[msg("s", "hello", Some("c-1"), 300)]).await.unwrap();
    assert!(!other[0].duplicate);
    assert_eq!(store.after("r", 0, 10).await.unwrap().messages.len(), 2, "stored once each");
}

async fn retention_drops_old_and_excess_but_keeps_numbering(store: &mut impl ChatStore) {
    let day = 24 * 3600 * 1000;
    let now = 100 * day;
    let batch: Vec<NewMessage> =
        (0..10).map(|i| msg("r", &format!("m{i}"), Some(&format!("c{i}")), now - (10 - i) * day)).collect();
    store.append(&batch).await.unwrap();
    // Older than 5 days goes (m0..m4, 10..6 days old); then at most 3 per room.
    let deleted = store.prune(Some(now - 5 * day - 1), Some(3), now - day / 2).await.unwrap();
    assert_eq!(deleted, 7);
    let left = store.after("r", 0, 100).await.unwrap();
    assert_eq!(texts(&left), ["m7", "m8", "m9"]);
    // Messages younger than the dedup window are never cut by the per-room cap.
    store.append(&[msg("r", "fresh1", None, now), msg("r", "fresh2", None, now)]).await.unwrap();
    store.prune(None, Some(1), now - day / 2).await.unwrap();
    assert_eq!(texts(&store.after("r", 0, 100).await.unwrap()), ["fresh1", "fresh2"]);
    // Numbering goes on after deletions.
    let next = store.append(&[msg("r", "next", None, now)]).await.unwrap();
    assert_eq!(next[0].message.seq, 13);
}

#[tokio::test]
async fn memory_store_rules() {
    numbers_each_room_and_pages_both_ways(&mut MemoryStore::default()).await;
    a_resent_client_msg_id_gets_the_stored_message_back(&mut MemoryStore::default()).await;
    retention_drops_old_and_excess_but_keeps_numbering(&mut MemoryStore::default()).await;
}

#[tokio::test]
async fn sqlite_store_rules() {
    for (i, rule) in ["pages", "dedup", "retention"].iter().enumerate() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).await.unwrap();
        match i {
            0 => numbers_each_room_and_pages_both_ways(&mut store).await,
            1 => a_resent_client_msg_id_gets_the_stored_message_back(&mut store).await,
            _ => retention_drops_old_and_excess_but_keeps_numbering(&mut store).await,
        }
        drop((rule, store));
    }
}

#[tokio::test]
async fn sqlite_keeps_messages_numbering_dedup_and_epoch_across_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = SqliteStore::open(dir.path()).await.unwrap();
    let epoch = store.epoch().to_string();
    assert_eq!(epoch.len(), 32);
    let first = store.append(&[msg("r", "one", Some("c-1"), 1), msg("r", "two", None, 2)]).await.unwrap();
    drop(store);

    let mut store = SqliteStore::open(dir.path()).await.unwrap();
    assert_eq!(store.epoch(), epoch, "the epoch belongs to the database");
    assert_eq!(texts(&store.after("r", 0, 10).await.unwrap()), ["one", "two"]);
    let again = store.append(&[msg("r", "one", Some("c-1"), 3), msg("r", "three", None, 4)]).await.unwrap();
    assert_eq!(again[0].message, first[0].message, "a resend after a restart is not stored twice");
    assert_eq!(again[1].message.seq, 3, "the sequence continues");
    assert!(again[1].message.id > first[1].message.id);

    let other = tempfile::tempdir().unwrap();
    assert_ne!(SqliteStore::open(other.path()).await.unwrap().epoch(), epoch, "a new database, a new epoch");
}

#[tokio::test]
async fn a_data_dir_that_cannot_be_made_fails_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("not-a-dir");
    std::fs::write(&file, "x").unwrap();
    let err = SqliteStore::open(&file.join("data")).await.err().expect("cannot open under a file");
    assert!(err.contains("not-a-dir/data") && err.contains("cannot create the data directory"), "{err}");
}

/// Joins answered through the store task (from its window of recent messages, or the
/// disk) read the same as the disk, before and after more messages arrive.
#[tokio::test]
async fn joins_read_the_same_from_the_recent_window_as_from_the_disk() {
    let dir = tempfile::tempdir().unwrap();
    let (replies_tx, mut replies) = mpsc::unbounded_channel();
    let keep_all = Retention { days: 0, max_per_room: 0 };
    let store = StoreHandle::spawn(SqliteStore::open(dir.path()).await.unwrap(), keep_all, replies_tx);
    let mut seq = 0;
    let mut append = |n: u64| {
        for _ in 0..n {
            seq += 1;
            let message = msg("r", &format!("m{seq}"), None, seq);
            store.try_send(StoreCmd::Append { conn_id: 1, req_id: None, message }).unwrap();
        }
    };
    append(60);
    let store2 = store.clone();
    let join = |since: Option<u64>, room: &str| {
        store2.try_send(StoreCmd::Join { conn_id: 1, room: room.into(), since }).unwrap();
    };
    join(None, "r"); // read from the disk, remembered
    join(None, "r"); // from the window
    append(1);
    join(None, "r");
    join(Some(55), "r"); // within the window
    join(Some(5), "r"); // before it: the disk
    join(Some(61), "r");
    join(None, "empty");
    join(Some(0), "empty");
    store.flush().await;
    let mut joins = Vec::new();
    while let Ok(reply) = replies.try_recv() {
        if let StoreReply::Joined { history, earlier, more, failed, .. } = reply {
            assert!(!failed && !more);
            let seqs: Vec<u64> = history.iter().map(|m| m.seq).collect();
            joins.push((seqs.first().copied(), seqs.last().copied(), seqs.len(), earlier));
        }
    }
    assert_eq!(
        joins,
        [
            (Some(11), Some(60), 50, true),
            (Some(11), Some(60), 50, true),
            (Some(12), Some(61), 50, true),
            (Some(56), Some(61), 6, true),
            (Some(6), Some(61), 56, true),
            (None, None, 0, true),
            (None, None, 0, false),
            (None, None, 0, false),
        ]
    );
}

//! The outbox's unit tests: queueing, due order, backoff, marks, expiry.

use super::*;
use crate::store::MIGRATIONS;
use crate::store::testutil::*;

#[test]
fn outbox_lifecycle() {
    let (_d, s) = open();
    assert_eq!(s.schema_version().unwrap(), MIGRATIONS.len() as u32);
    s.enqueue(&msg(1, 2), 100).unwrap();
    s.enqueue(&msg(2, 2), 101).unwrap();
    s.enqueue(&msg(3, 3), 102).unwrap();
    assert!(matches!(
        s.enqueue(&msg(1, 2), 103),
        Err(StoreError::DuplicateId)
    ));
    assert_eq!(s.due_peers(99, 10).unwrap(), Vec::<Address>::new());
    assert_eq!(s.due_peers(200, 10).unwrap(), vec![addr(2), addr(3)]);
    let q = s.queued_for(&addr(2), 10).unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(q[0].message, msg(1, 2));

    s.record_failure(&addr(2), "connection refused", 200)
        .unwrap();
    let e = s.outbox_entry(&[1; 16]).unwrap().unwrap();
    assert_eq!(e.attempts, 1);
    assert_eq!(e.next_attempt_at, 205);
    assert_eq!(e.last_error.as_deref(), Some("connection refused"));
    s.record_failure(&addr(2), "again", 205).unwrap();
    assert_eq!(
        s.outbox_entry(&[1; 16]).unwrap().unwrap().next_attempt_at,
        215
    );
    assert_eq!(s.due_peers(210, 10).unwrap(), vec![addr(3)]);
    // An early attempt (not due) leaves the schedule alone.
    s.record_failure(&addr(2), "early", 206).unwrap();
    let e = s.outbox_entry(&[1; 16]).unwrap().unwrap();
    assert_eq!((e.attempts, e.next_attempt_at), (2, 215));
    assert_eq!(e.last_error.as_deref(), Some("early"));
    assert_eq!(s.next_due().unwrap(), Some(102));

    s.mark_delivered(&[[1; 16]], 300).unwrap();
    let e = s.outbox_entry(&[1; 16]).unwrap().unwrap();
    assert_eq!(e.state, OutboxState::Delivered);
    assert_eq!(e.finished_at, Some(300));

    assert_eq!(
        s.reject_peer(&addr(3), "recipient revoked", 301).unwrap(),
        1
    );
    let e = s.outbox_entry(&[3; 16]).unwrap().unwrap();
    assert_eq!(e.state, OutboxState::Rejected);
    assert_eq!(e.last_error.as_deref(), Some("recipient revoked"));
    // A delivered message is never turned into rejected or expired.
    assert_eq!(s.reject_peer(&addr(2), "x", 302).unwrap(), 1);
    assert_eq!(
        s.outbox_entry(&[1; 16]).unwrap().unwrap().state,
        OutboxState::Delivered
    );
}

#[test]
fn expiry_after_max_age() {
    let (_d, s) = open();
    s.enqueue(&msg(1, 2), 100).unwrap();
    s.enqueue(&msg(2, 2), 5000).unwrap();
    assert_eq!(s.expire(5000, Duration::from_secs(1000)).unwrap(), 1);
    assert_eq!(
        s.outbox_entry(&[1; 16]).unwrap().unwrap().state,
        OutboxState::Expired
    );
    assert_eq!(
        s.outbox_entry(&[2; 16]).unwrap().unwrap().state,
        OutboxState::Queued
    );
    let e = s.outbox_entry(&[1; 16]).unwrap().unwrap();
    assert_eq!(e.last_error.as_deref(), Some("not delivered within 1000 s"));
    assert_eq!(e.finished_at, Some(5000));
    // The last delivery error is kept in the reason.
    s.record_failure(&addr(2), "connection refused", 5000)
        .unwrap();
    assert_eq!(s.expire(7000, Duration::from_secs(1000)).unwrap(), 1);
    assert_eq!(
        s.outbox_entry(&[2; 16])
            .unwrap()
            .unwrap()
            .last_error
            .as_deref(),
        Some("not delivered within 1000 s; last error: connection refused")
    );
}

#[test]
fn refused_messages_are_rejected_one_by_one() {
    let (_d, s) = open();
    for id in 1..=3 {
        s.enqueue(&msg(id, 2), 100).unwrap();
    }
    s.mark_delivered(&[[3; 16]], 101).unwrap();
    // 3 is delivered already and 9 is unknown: neither changes.
    assert_eq!(
        s.reject_messages(&[[1; 16], [3; 16], [9; 16]], "not text", 102)
            .unwrap(),
        1
    );
    let e = s.outbox_entry(&[1; 16]).unwrap().unwrap();
    assert_eq!(
        (e.state, e.last_error.as_deref(), e.finished_at),
        (OutboxState::Rejected, Some("not text"), Some(102))
    );
    assert_eq!(
        s.outbox_entry(&[2; 16]).unwrap().unwrap().state,
        OutboxState::Queued
    );
    assert_eq!(
        s.outbox_entry(&[3; 16]).unwrap().unwrap().state,
        OutboxState::Delivered
    );
}

#[test]
fn backoff_grows_and_caps() {
    assert_eq!(backoff(1), Duration::from_secs(5));
    assert_eq!(backoff(2), Duration::from_secs(10));
    assert_eq!(backoff(10), Duration::from_secs(2560));
    assert_eq!(backoff(11), Duration::from_secs(3600));
    assert_eq!(backoff(u32::MAX), Duration::from_secs(3600));
}

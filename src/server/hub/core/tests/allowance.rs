//! The reactions' allowance, from clock values.

use std::time::{Duration, Instant};

use super::super::allowance::Allowance;

#[test]
fn a_burst_of_five_then_one_a_second() {
    let start = Instant::now();
    let mut a = Allowance::new(start);
    let second = Duration::from_secs(1);
    let taken = (0..7).filter(|_| a.take(start, 5, second)).count();
    assert_eq!(taken, 5, "the burst, not more");
    assert!(!a.take(start + Duration::from_millis(999), 5, second), "not before a second has passed");
    assert!(a.take(start + second, 5, second), "one more after a second");
    assert!(!a.take(start + second, 5, second));
    // A long pause gives the whole burst back, not more.
    let later = start + Duration::from_secs(60);
    assert_eq!((0..7).filter(|_| a.take(later, 5, second)).count(), 5);
}

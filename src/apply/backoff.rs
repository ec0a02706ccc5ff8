//! How long to wait before trying again.

use std::time::Duration;

/// Exponential backoff from 100 ms, capped, with up to 50% jitter (so that many lanes do not
/// retry in step).
pub fn backoff(attempt: u32, max: Duration) -> Duration {
    let base = Duration::from_millis(100).saturating_mul(1u32 << attempt.min(16));
    let capped = base.min(max);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let jitter = capped.mul_f64(f64::from(nanos % 1000) / 2000.0);
    capped - jitter
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped_with_jitter() {
        let max = Duration::from_secs(5);
        for attempt in 0..40 {
            let b = backoff(attempt, max);
            let ceiling = Duration::from_millis(100)
                .saturating_mul(1u32 << attempt.min(16))
                .min(max);
            assert!(b <= ceiling && b >= ceiling / 2, "attempt {attempt}: {b:?}");
        }
    }
}

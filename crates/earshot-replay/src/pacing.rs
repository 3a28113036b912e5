use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::time::Instant;

/// How fast event time passes during a replay.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Speed {
    /// As fast as the broker takes it.
    Max,
    /// This many seconds of event time per second of wall time (1 = realtime).
    Factor(f64),
}

impl FromStr for Speed {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim().to_ascii_lowercase();
        match text.as_str() {
            "max" => Ok(Speed::Max),
            "realtime" => Ok(Speed::Factor(1.0)),
            _ => {
                let number = text.strip_suffix('x').unwrap_or(&text);
                match number.parse::<f64>() {
                    Ok(factor) if factor > 0.0 && factor.is_finite() => Ok(Speed::Factor(factor)),
                    _ => Err(format!(
                        "invalid speed {text:?}: expected max, realtime or e.g. 60x"
                    )),
                }
            }
        }
    }
}

/// Decides how long to wait before sending each record.
#[derive(Debug)]
pub struct Pacer {
    speed: Speed,
    rate: f64,
    started: Instant,
    first_event: Option<DateTime<Utc>>,
    sent: u64,
}

impl Pacer {
    pub fn new(speed: Speed, rate: f64) -> Self {
        Pacer {
            speed,
            rate,
            started: Instant::now(),
            first_event: None,
            sent: 0,
        }
    }

    /// Returns how long to wait before sending a record created at `event_time`.
    pub fn delay_for(&mut self, event_time: DateTime<Utc>) -> Duration {
        let now = Instant::now();
        let elapsed = now.duration_since(self.started);
        let mut target = Duration::ZERO;
        if let Speed::Factor(factor) = self.speed {
            let first = *self.first_event.get_or_insert(event_time);
            // Out-of-order records (event time before the first) go out at once.
            let event_offset = (event_time - first).to_std().unwrap_or_default();
            target = event_offset.div_f64(factor);
        }
        if self.rate > 0.0 {
            target = target.max(Duration::from_secs_f64(self.sent as f64 / self.rate));
        }
        self.sent += 1;
        target.saturating_sub(elapsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_speeds() {
        assert_eq!("max".parse::<Speed>(), Ok(Speed::Max));
        assert_eq!("realtime".parse::<Speed>(), Ok(Speed::Factor(1.0)));
        assert_eq!("60x".parse::<Speed>(), Ok(Speed::Factor(60.0)));
        assert!("0x".parse::<Speed>().is_err());
        assert!("fast".parse::<Speed>().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn keeps_relative_event_timing_scaled_by_speed() {
        let mut pacer = Pacer::new(Speed::Factor(60.0), 0.0);
        let first = DateTime::from_timestamp(1_000_000, 0).expect("time");
        assert_eq!(pacer.delay_for(first), Duration::ZERO);
        let an_hour_later = first + chrono::Duration::hours(1);
        assert_eq!(pacer.delay_for(an_hour_later), Duration::from_secs(60));
        let earlier = first - chrono::Duration::hours(1);
        assert_eq!(pacer.delay_for(earlier), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn caps_the_rate() {
        let mut pacer = Pacer::new(Speed::Max, 10.0);
        let time = DateTime::from_timestamp(1_000_000, 0).expect("time");
        assert_eq!(pacer.delay_for(time), Duration::ZERO);
        assert_eq!(pacer.delay_for(time), Duration::from_millis(100));
        assert_eq!(pacer.delay_for(time), Duration::from_millis(200));
    }
}

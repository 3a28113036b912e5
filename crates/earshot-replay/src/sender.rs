//! Sends records in chunks with several chunks in flight, and reports them
//! back oldest first once acknowledged, so that a checkpoint never runs ahead
//! of what the broker holds.

use std::collections::VecDeque;

use earshot_kafka::{OutputRecord, PendingSend, Producer};
use earshot_service::CancellationToken;

/// Bounds the bookkeeping of many tiny chunks (paced replays).
const MAX_CHUNKS_IN_FLIGHT: usize = 10_000;

pub(crate) struct OrderedSender<M> {
    producer: Producer,
    chunk: Vec<OutputRecord>,
    chunk_size: usize,
    /// Records allowed in flight: `max_in_flight` full chunks' worth, so that
    /// the small chunks a paced replay cuts do not each wait for an ack.
    max_in_flight_records: usize,
    in_flight_records: usize,
    in_flight: VecDeque<(PendingSend, M)>,
}

impl<M> OrderedSender<M> {
    pub(crate) fn new(producer: Producer, chunk_size: usize, max_in_flight: usize) -> Self {
        OrderedSender {
            producer,
            chunk: Vec::with_capacity(chunk_size.max(1)),
            chunk_size: chunk_size.max(1),
            max_in_flight_records: chunk_size.max(1) * max_in_flight.max(1),
            in_flight_records: 0,
            in_flight: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, record: OutputRecord) {
        self.chunk.push(record);
    }

    pub(crate) fn chunk_is_full(&self) -> bool {
        self.chunk.len() >= self.chunk_size
    }

    /// Hands the current chunk to the producer, tagged with `marker` (what
    /// the caller will know is safe once it is acknowledged), then waits for
    /// the oldest chunks while too many are in flight. Returns the markers
    /// and sizes of the chunks acknowledged meanwhile, oldest first.
    pub(crate) async fn cut(
        &mut self,
        marker: M,
        shutdown: &CancellationToken,
    ) -> earshot_kafka::Result<Vec<(M, usize)>> {
        let mut confirmed = Vec::new();
        if self.chunk.is_empty() {
            // Nothing new to send: the marker moves onto the newest chunk in
            // flight, or is settled at once when nothing is in flight.
            match self.in_flight.back_mut() {
                Some((_, newest)) => *newest = marker,
                None => confirmed.push((marker, 0)),
            }
        } else {
            let records = std::mem::replace(&mut self.chunk, Vec::with_capacity(self.chunk_size));
            let pending = self.producer.start_send(records, shutdown).await?;
            self.in_flight_records += pending.len();
            self.in_flight.push_back((pending, marker));
        }
        while self.in_flight_records > self.max_in_flight_records
            || self.in_flight.len() > MAX_CHUNKS_IN_FLIGHT
        {
            confirmed.extend(self.confirm_oldest(shutdown).await?);
        }
        Ok(confirmed)
    }

    /// Cuts the current chunk and waits for everything in flight.
    pub(crate) async fn drain(
        &mut self,
        marker: M,
        shutdown: &CancellationToken,
    ) -> earshot_kafka::Result<Vec<(M, usize)>> {
        let mut confirmed = self.cut(marker, shutdown).await?;
        while let Some(done) = self.confirm_oldest(shutdown).await? {
            confirmed.push(done);
        }
        Ok(confirmed)
    }

    async fn confirm_oldest(
        &mut self,
        shutdown: &CancellationToken,
    ) -> earshot_kafka::Result<Option<(M, usize)>> {
        let Some((pending, marker)) = self.in_flight.pop_front() else {
            return Ok(None);
        };
        let size = pending.len();
        self.in_flight_records -= size;
        pending.confirm(shutdown).await?;
        Ok(Some((marker, size)))
    }
}

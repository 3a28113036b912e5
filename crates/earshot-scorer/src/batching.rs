//! Dynamic padding and length-sorted batching, shared by the encoder and the
//! Hugging Face classifiers.

use tch::{Device, Kind, Tensor};

use crate::error::ScorerError;

/// Pads token sequences to the longest with `pad_id`; returns ids and the
/// 0/1 attention mask, both [n, longest] on `device`.
pub fn pad(sequences: &[Vec<i64>], pad_id: i64, device: Device) -> (Tensor, Tensor) {
    let longest = sequences.iter().map(Vec::len).max().unwrap_or(1).max(1);
    let mut ids = Vec::with_capacity(sequences.len() * longest);
    let mut mask = Vec::with_capacity(sequences.len() * longest);
    for sequence in sequences {
        ids.extend_from_slice(sequence);
        mask.extend(std::iter::repeat_n(1i64, sequence.len()));
        let padding = longest - sequence.len();
        ids.extend(std::iter::repeat_n(pad_id, padding));
        mask.extend(std::iter::repeat_n(0i64, padding));
    }
    let shape = [sequences.len() as i64, longest as i64];
    (
        Tensor::from_slice(&ids).view(shape).to_device(device),
        Tensor::from_slice(&mask).view(shape).to_device(device),
    )
}

/// Runs `batch` on chunks of at most `chunk` sequences sorted by length (less
/// padding) and returns its rows in input order ([n, width] on the CPU).
pub fn length_sorted_rows(
    sequences: &[Vec<i64>],
    chunk: usize,
    width: i64,
    mut batch: impl FnMut(&[Vec<i64>]) -> Result<Tensor, ScorerError>,
) -> Result<Tensor, ScorerError> {
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    order.sort_by_key(|&index| sequences[index].len());
    let mut rows: Vec<Option<Tensor>> = (0..sequences.len()).map(|_| None).collect();
    for indices in order.chunks(chunk.max(1)) {
        let members: Vec<Vec<i64>> = indices
            .iter()
            .map(|&index| sequences[index].clone())
            .collect();
        let output = batch(&members)?;
        for (position, &index) in indices.iter().enumerate() {
            rows[index] = Some(output.get(position as i64));
        }
    }
    let rows: Vec<Tensor> = rows.into_iter().flatten().collect();
    if rows.is_empty() {
        return Ok(Tensor::zeros([0, width], (Kind::Float, Device::Cpu)));
    }
    Ok(Tensor::stack(&rows, 0))
}

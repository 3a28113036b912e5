//! A lean BERT encoder forward for inference, on the same safetensors
//! weights rust-bert reads: query, key and value in one fused matrix
//! multiplication, libtorch's fused scaled-dot-product attention with the
//! padding mask, fused `linear` (addmm) and `gelu`. Measured about 1.4x
//! faster than rust-bert's `BertModel` on 2 CPU threads (BENCHMARKS.md); its
//! output matches rust-bert's within float rounding (tests/scorer_model.rs).
//! [`BertForward::quantized_int8`] turns its linear layers into int8 GEMMs
//! (see [`Int8Linear`]), another ~1.3x on the CPU.

use std::path::Path;

use tch::{Device, Kind, Tensor};

use crate::error::ScorerError;

/// A linear layer, in float or with int8 weights.
enum Dense {
    Float { weight: Tensor, bias: Tensor },
    Int8(Int8Linear),
}

/// fbgemm's int8 GEMM: per-tensor affine int8 weights (as PyTorch's
/// `quantize_dynamic` makes them) and uint8 activations. fbgemm picks the
/// activations' scale from the range of its whole input, which would make a
/// text's scores depend on its batch; so the input is clamped to a range
/// fixed at load time, and one extra row pins fbgemm's choice. The pinned
/// range is twice as wide as the clamp (the inputs use uint8 codes 0..=127):
/// without VNNI, fbgemm adds pairs of u8 x i8 products in 16 bits, which
/// saturates beyond 127 x 128 x 2 (PyTorch's `reduce_range` does the same).
/// BERT's activations have a few channels far wider than the rest (GELU
/// outputs reach ~25 where 99% are below 1); stretching the one activation
/// scale over them would leave ordinary values a handful of codes, so those
/// channels are multiplied in float (LLM.int8()'s decomposition).
struct Int8Linear {
    /// The input channels with the widest calibration ranges and their
    /// weights ([outliers, outputs]), multiplied in float; their int8
    /// weights are zero.
    outliers: Option<(Tensor, Tensor)>,
    weight: Tensor,
    packed: Tensor,
    column_offsets: Tensor,
    scale: f64,
    zero_point: i64,
    bias: Tensor,
    input_low: f64,
    input_high: f64,
    /// [1, inputs]: `input_low`, the top of the pinned range, then zeros.
    pins: Tensor,
}

impl Dense {
    fn forward(&self, input: &Tensor) -> Result<Tensor, tch::TchError> {
        match self {
            Dense::Float { weight, bias } => input.f_linear(weight, Some(bias)),
            Dense::Int8(linear) => linear.forward(input),
        }
    }

    /// Quantizes the layer for inputs seen in `seen` (per channel): sets the
    /// outlier channels apart, quantizes the other weights (one affine scale
    /// and zero point for the tensor, from its range widened to include 0)
    /// and fixes the input range.
    fn quantized(self, seen: &ChannelRange) -> Result<Dense, tch::TchError> {
        let Dense::Float { weight, bias } = self else {
            return Ok(self);
        };
        let inputs = weight.size()[1];
        let input_peak = seen.low.f_abs()?.f_maximum(&seen.high.f_abs()?)?;
        let outlier_count = (inputs as f64 * OUTLIER_FRACTION).ceil() as i64;
        // 1 for the channels done in int8, 0 for the outliers.
        let mut kept = Tensor::f_ones([inputs], (Kind::Float, weight.device()))?;
        let outliers = if outlier_count > 0 {
            let (_, channels) = input_peak.f_topk(outlier_count, 0, true, true)?;
            kept = kept.f_index_fill(0, &channels, 0.0)?;
            let outlier_weight = weight
                .f_index_select(1, &channels)?
                .f_t_copy()?
                .f_contiguous()?;
            Some((channels, outlier_weight))
        } else {
            None
        };
        let weight = weight.f_mul(&kept.f_unsqueeze(0)?)?;
        let input_low = seen.low.f_mul(&kept)?.f_min()?.double_value(&[]);
        let input_high = seen.high.f_mul(&kept)?.f_max()?.double_value(&[]);
        let margin = (input_high - input_low) * INT8_RANGE_MARGIN;
        let (input_low, input_high) = (
            (input_low - margin).min(0.0),
            (input_high + margin).max(0.0),
        );
        let (scale, zero_point) = affine_int8(
            weight.f_min()?.double_value(&[]),
            weight.f_max()?.double_value(&[]),
        );
        let int8 = weight
            .f_quantize_per_tensor(scale, zero_point, Kind::QInt8)?
            .f_int_repr()?
            .f_contiguous()?;
        // fbgemm wants, per output row, the sum of its int8 weights minus
        // zero_point x inputs.
        let column_offsets = (int8.f_sum_dim_intlist([1i64].as_slice(), false, Kind::Int)?
            - zero_point * inputs)
            .f_to_kind(Kind::Int)?
            .f_contiguous()?;
        let packed = int8.f_fbgemm_pack_quantized_matrix()?;
        let mut pins = vec![0f32; inputs as usize];
        if let [low, high, ..] = pins.as_mut_slice() {
            (*low, *high) = (input_low as f32, pinned_top(input_low, input_high) as f32);
        }
        Ok(Dense::Int8(Int8Linear {
            outliers,
            weight: int8,
            packed,
            column_offsets,
            scale,
            zero_point,
            bias,
            input_low,
            input_high,
            pins: Tensor::from_slice(&pins)
                .f_view([1, inputs])?
                .f_to_device(weight.device())?,
        }))
    }
}

/// Per-channel minimum and maximum of a linear layer's input ([inputs] each).
struct ChannelRange {
    low: Tensor,
    high: Tensor,
}

/// The share of input channels (those with the widest calibration range)
/// multiplied in float: BERT's activations have a few channels far wider
/// than the rest, which would stretch the int8 scale.
const OUTLIER_FRACTION: f64 = 0.02;

/// How far the int8 input ranges reach past the calibration texts' ranges,
/// as a fraction of their width; rarer values beyond are clamped.
const INT8_RANGE_MARGIN: f64 = 0.1;

impl Int8Linear {
    fn forward(&self, input: &Tensor) -> Result<Tensor, tch::TchError> {
        let mut shape = input.size();
        let inputs = shape.last().copied().unwrap_or(0);
        let flat = input.f_reshape([-1, inputs])?;
        let rows = flat.size()[0];
        // The clamped rows and the pinning row in one buffer (one pass).
        let pinned = Tensor::f_empty([rows + 1, inputs], (Kind::Float, input.device()))?;
        let _clamped = flat.f_clamp_out(
            &pinned.f_narrow(0, 0, rows)?,
            self.input_low,
            self.input_high,
        )?;
        pinned.f_narrow(0, rows, 1)?.f_copy_(&self.pins)?;
        let mut output = pinned
            .f_fbgemm_linear_int8_weight_fp32_activation(
                &self.weight,
                &self.packed,
                &self.column_offsets,
                // fbgemm insists on a float scale and an integral zero point.
                tch::Scalar::float(self.scale),
                tch::Scalar::int(self.zero_point),
                &self.bias,
            )?
            .f_narrow(0, 0, rows)?;
        if let Some((channels, weight)) = &self.outliers {
            let _sum = output.f_addmm_(&flat.f_index_select(1, channels)?, weight)?;
        }
        if let Some(last) = shape.last_mut() {
            *last = self.bias.size()[0];
        }
        output.f_reshape(shape)
    }
}

/// The top of the range fbgemm is pinned to for inputs in `low..=high`:
/// they then take uint8 codes up to 127 (2.02, not 2: rounding stays below 128).
fn pinned_top(low: f64, high: f64) -> f64 {
    low + (high - low) * 2.02
}

/// Scale and zero point of an int8 affine quantization covering
/// `low..=high` and 0 (PyTorch's `ChooseQuantizationParams`, simplified).
fn affine_int8(low: f64, high: f64) -> (f64, i64) {
    let (low, high) = (low.min(0.0), high.max(0.0));
    let (qmin, qmax) = (-128.0, 127.0);
    let scale = if high > low {
        (high - low) / (qmax - qmin)
    } else {
        0.1
    };
    let zero_point = (qmin - low / scale).round().clamp(qmin, qmax) as i64;
    (scale, zero_point)
}

/// Query-key-value, attention output, intermediate, output.
const LINEARS_PER_LAYER: usize = 4;

struct LayerNorm {
    weight: Tensor,
    bias: Tensor,
}

struct Layer {
    query_key_value: Dense,
    attention_output: Dense,
    attention_norm: LayerNorm,
    intermediate: Dense,
    output: Dense,
    output_norm: LayerNorm,
}

/// The encoder part of a BERT model (no pooler), for inference only.
pub struct BertForward {
    word_embeddings: Tensor,
    position_embeddings: Tensor,
    token_type_embedding: Tensor,
    embeddings_norm: LayerNorm,
    layers: Vec<Layer>,
    heads: i64,
    hidden: i64,
    eps: f64,
}

impl BertForward {
    /// Reads `model.safetensors` (BERT names, with or without a `bert.` prefix).
    pub fn load(
        weights_path: &Path,
        hidden: i64,
        heads: i64,
        layers: i64,
        eps: f64,
        device: Device,
    ) -> Result<Self, ScorerError> {
        let tensors: std::collections::HashMap<String, Tensor> =
            Tensor::read_safetensors(weights_path)?
                .into_iter()
                .map(|(name, tensor)| {
                    let name = name.strip_prefix("bert.").unwrap_or(&name).to_owned();
                    (name, tensor)
                })
                .collect();
        let take = |name: &str| -> Result<Tensor, ScorerError> {
            tensors
                .get(name)
                .map(|tensor| tensor.to_kind(Kind::Float).to_device(device).contiguous())
                .ok_or_else(|| {
                    ScorerError::Model(format!("{}: no tensor {name}", weights_path.display()))
                })
        };
        let dense = |prefix: &str| -> Result<Dense, ScorerError> {
            Ok(Dense::Float {
                weight: take(&format!("{prefix}.weight"))?,
                bias: take(&format!("{prefix}.bias"))?,
            })
        };
        let norm = |prefix: &str| -> Result<LayerNorm, ScorerError> {
            Ok(LayerNorm {
                weight: take(&format!("{prefix}.weight"))?,
                bias: take(&format!("{prefix}.bias"))?,
            })
        };
        let mut stack = Vec::with_capacity(layers as usize);
        for index in 0..layers {
            let prefix = format!("encoder.layer.{index}");
            let part = |name: &str| -> Result<(Tensor, Tensor), ScorerError> {
                let prefix = format!("{prefix}.attention.self.{name}");
                Ok((
                    take(&format!("{prefix}.weight"))?,
                    take(&format!("{prefix}.bias"))?,
                ))
            };
            let (query, key, value) = (part("query")?, part("key")?, part("value")?);
            stack.push(Layer {
                query_key_value: Dense::Float {
                    weight: Tensor::f_cat(&[query.0, key.0, value.0], 0)?,
                    bias: Tensor::f_cat(&[query.1, key.1, value.1], 0)?,
                },
                attention_output: dense(&format!("{prefix}.attention.output.dense"))?,
                attention_norm: norm(&format!("{prefix}.attention.output.LayerNorm"))?,
                intermediate: dense(&format!("{prefix}.intermediate.dense"))?,
                output: dense(&format!("{prefix}.output.dense"))?,
                output_norm: norm(&format!("{prefix}.output.LayerNorm"))?,
            });
        }
        if hidden % heads != 0 {
            return Err(ScorerError::Model(format!(
                "hidden size {hidden} is not a multiple of {heads} heads"
            )));
        }
        Ok(BertForward {
            word_embeddings: take("embeddings.word_embeddings.weight")?,
            position_embeddings: take("embeddings.position_embeddings.weight")?,
            token_type_embedding: take("embeddings.token_type_embeddings.weight")?.f_get(0)?,
            embeddings_norm: norm("embeddings.LayerNorm")?,
            layers: stack,
            heads,
            hidden,
            eps,
        })
    }

    /// The per-channel range of every linear layer's input over the
    /// non-padded tokens of `batches` (ids and mask, as
    /// [`BertForward::forward`] takes them), in layer order.
    fn input_ranges(&self, batches: &[(Tensor, Tensor)]) -> Result<Vec<ChannelRange>, ScorerError> {
        let mut ranges: Vec<Option<ChannelRange>> = (0..self.layers.len() * LINEARS_PER_LAYER)
            .map(|_| None)
            .collect();
        for (ids, mask) in batches {
            let real = mask.f_ne(0)?;
            let _hidden = self.forward_with(ids, mask, &mut |slot, dense, input| {
                let rows = input.f_index(&[Some(&real)])?;
                let low = rows.f_amin([0i64].as_slice(), false)?;
                let high = rows.f_amax([0i64].as_slice(), false)?;
                ranges[slot] = Some(match ranges[slot].take() {
                    None => ChannelRange { low, high },
                    Some(seen) => ChannelRange {
                        low: seen.low.f_minimum(&low)?,
                        high: seen.high.f_maximum(&high)?,
                    },
                });
                dense.forward(input)
            })?;
        }
        ranges
            .into_iter()
            .map(|range| range.ok_or_else(|| ScorerError::Model("no calibration texts".into())))
            .collect()
    }

    /// The same encoder with int8 weights in its query-key-value, attention
    /// output and intermediate layers (the feed-forward output, attention
    /// products, layer norms and embeddings stay float), calibrated on the
    /// float activations of `batches` (ids and mask).
    pub fn quantized_int8(self, batches: &[(Tensor, Tensor)]) -> Result<Self, ScorerError> {
        let ranges = self.input_ranges(batches)?;
        let layers = self
            .layers
            .into_iter()
            .zip(ranges.chunks(LINEARS_PER_LAYER))
            .map(|(layer, seen)| -> Result<Layer, tch::TchError> {
                Ok(Layer {
                    query_key_value: layer.query_key_value.quantized(&seen[0])?,
                    attention_output: layer.attention_output.quantized(&seen[1])?,
                    attention_norm: layer.attention_norm,
                    intermediate: layer.intermediate.quantized(&seen[2])?,
                    output: layer.output.quantized(&seen[3])?,
                    output_norm: layer.output_norm,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(BertForward { layers, ..self })
    }

    fn normalize(&self, input: &Tensor, norm: &LayerNorm) -> Result<Tensor, tch::TchError> {
        input.f_layer_norm(
            [self.hidden],
            Some(&norm.weight),
            Some(&norm.bias),
            self.eps,
            false,
        )
    }

    /// Hidden states [batch, length, hidden] for token ids and a 0/1 padding
    /// mask, both [batch, length]; padded positions are never attended to.
    pub fn forward(&self, ids: &Tensor, mask: &Tensor) -> Result<Tensor, tch::TchError> {
        self.forward_with(ids, mask, &mut |_, dense, input| dense.forward(input))
    }

    /// [`BertForward::forward`], with every linear layer run by `linear`,
    /// which gets the layer's index (4 per encoder layer, in order).
    fn forward_with(
        &self,
        ids: &Tensor,
        mask: &Tensor,
        linear: &mut dyn FnMut(usize, &Dense, &Tensor) -> Result<Tensor, tch::TchError>,
    ) -> Result<Tensor, tch::TchError> {
        tch::no_grad(|| {
            let (batch, length) = ids.size2()?;
            let positions = Tensor::f_arange(length, (Kind::Int64, ids.device()))?;
            let embedded = Tensor::f_embedding(&self.word_embeddings, ids, -1, false, false)?
                + Tensor::f_embedding(&self.position_embeddings, &positions, -1, false, false)?
                    .f_unsqueeze(0)?
                + &self.token_type_embedding;
            let mut hidden = self.normalize(&embedded, &self.embeddings_norm)?;
            // [batch, 1, 1, length]: true where a key may be attended to.
            let attend = mask.f_ne(0)?.f_view([batch, 1, 1, length])?;
            let head_size = self.hidden / self.heads;
            for (index, layer) in self.layers.iter().enumerate() {
                let slot = index * LINEARS_PER_LAYER;
                let qkv = linear(slot, &layer.query_key_value, &hidden)?
                    .f_view([batch, length, 3, self.heads, head_size])?
                    .f_permute([2, 0, 3, 1, 4])?;
                let context = Tensor::f_scaled_dot_product_attention(
                    &qkv.f_get(0)?,
                    &qkv.f_get(1)?,
                    &qkv.f_get(2)?,
                    Some(&attend),
                    0.0,
                    false,
                    None,
                )?
                .f_transpose(1, 2)?
                .f_reshape([batch, length, self.hidden])?;
                let attended = linear(slot + 1, &layer.attention_output, &context)? + &hidden;
                hidden = self.normalize(&attended, &layer.attention_norm)?;
                let intermediate =
                    linear(slot + 2, &layer.intermediate, &hidden)?.f_gelu("none")?;
                let output = linear(slot + 3, &layer.output, &intermediate)? + &hidden;
                hidden = self.normalize(&output, &layer.output_norm)?;
            }
            Ok(hidden)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float_linear(seed: i64) -> (Dense, Tensor, Tensor) {
        tch::manual_seed(seed);
        let weight = Tensor::randn([48, 32], (Kind::Float, Device::Cpu)) * 0.2;
        let bias = Tensor::randn([48], (Kind::Float, Device::Cpu)) * 0.1;
        let dense = Dense::Float {
            weight: weight.shallow_clone(),
            bias: bias.shallow_clone(),
        };
        (dense, weight, bias)
    }

    fn seen(inputs: i64, low: f64, high: f64) -> ChannelRange {
        let options = (Kind::Float, Device::Cpu);
        ChannelRange {
            low: Tensor::full([inputs], low, options),
            high: Tensor::full([inputs], high, options),
        }
    }

    #[test]
    fn int8_linear_computes_the_quantized_product() {
        let (dense, weight, bias) = float_linear(7);
        // Channel 5 is the widest: it is the one kept in float.
        let range = seen(32, -3.0, 3.1);
        let _ = range.high.get(5).fill_(6.0);
        let Ok(Dense::Int8(int8)) = dense.quantized(&range) else {
            panic!("not quantized");
        };
        let input = (Tensor::rand([2, 5, 32], (Kind::Float, Device::Cpu)) * 6.0) - 3.0;
        // The same arithmetic in float: clamped inputs through the uint8
        // grid of the pinned range times the int8 weights, plus the outlier
        // channel in float.
        let (low, high) = (int8.input_low, int8.input_high);
        let input_scale = (pinned_top(low, high) - low) / 255.0;
        let input_zero = (-low / input_scale).round() as i64;
        let (channels, outlier_weight) = int8.outliers.as_ref().expect("one outlier of 32");
        assert_eq!(channels.size(), vec![1]);
        assert_eq!(channels.int64_value(&[0]), 5);
        let expected = input
            .clamp(low, high)
            .quantize_per_tensor(input_scale, input_zero, Kind::QUInt8)
            .dequantize()
            .linear(
                &((int8.weight.to_kind(Kind::Float) - int8.zero_point as f64) * int8.scale),
                Some(&bias),
            )
            + input.index_select(2, channels).matmul(outlier_weight);
        let actual = int8.forward(&input).expect("forward");
        assert_eq!(actual.size(), vec![2, 5, 48]);
        let error = (&actual - &expected).abs().max().double_value(&[]);
        // Off by whole units where fbgemm's 16-bit pair sums saturate.
        assert!(
            error < 1e-4,
            "max error {error} against the quantized product"
        );
        // And the quantized product is near the float one.
        let drift = (&actual - input.linear(&weight, Some(&bias)))
            .abs()
            .mean(Kind::Float)
            .double_value(&[]);
        assert!(drift < 0.05, "mean drift {drift} from the float product");
    }

    #[test]
    fn int8_rows_do_not_depend_on_the_other_rows() {
        let (dense, _, _) = float_linear(11);
        let int8 = dense.quantized(&seen(32, -3.0, 3.0)).expect("quantized");
        let row = (Tensor::rand([1, 32], (Kind::Float, Device::Cpu)) * 2.0) - 1.0;
        let alone = int8.forward(&row).expect("alone");
        // A neighbour far outside the range would widen an unpinned range.
        let loud = Tensor::full([1, 32], 40.0, (Kind::Float, Device::Cpu));
        let together = int8
            .forward(&Tensor::cat(&[&row, &loud], 0))
            .expect("together")
            .get(0)
            .unsqueeze(0);
        assert!(alone.equal(&together), "{alone} vs {together}");
    }

    #[test]
    fn affine_int8_covers_zero_and_the_range() {
        let (scale, zero_point) = affine_int8(-1.0, 3.0);
        assert!((scale - 4.0 / 255.0).abs() < 1e-12);
        assert_eq!(zero_point, -128 + 64);
        let (scale, zero_point) = affine_int8(0.5, 2.0);
        assert!((scale - 2.0 / 255.0).abs() < 1e-12);
        assert_eq!(zero_point, -128);
        assert_eq!(affine_int8(0.0, 0.0), (0.1, -128));
    }
}

//! The sentence encoder: all-MiniLM-L6-v2 (BERT) through rust-bert, with mean
//! pooling over the attention mask and L2 normalisation, as
//! sentence-transformers does it.

use std::path::Path;

use earshot_schema::clip_chars;
use rust_bert::bert::{BertConfig, BertEmbeddings, BertModel};
use rust_bert::Config;
use rust_tokenizers::tokenizer::{BertTokenizer, Tokenizer, TruncationStrategy};
use tch::{nn, Device, Kind, Tensor};

use crate::bert_forward::BertForward;
use crate::error::ScorerError;

/// Which implementation runs the encoder's forward pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderBackend {
    /// [`BertForward`]: fused QKV and attention (the default, faster).
    #[default]
    Fused,
    /// [`BertForward`] with int8 GEMMs in its linear layers (about 1.3x
    /// faster on the CPU; scores move slightly, see BENCHMARKS.md).
    FusedInt8,
    /// rust-bert's `BertModel` (the reference the fused one is tested against).
    RustBert,
}

/// Arithmetic of the encoder's linear layers (`--precision`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Precision {
    /// int8 on the CPU, f32 on a GPU.
    #[default]
    Auto,
    /// 32-bit floats, as the model was trained.
    F32,
    /// int8 weights and activations in the linear layers (fbgemm, CPU only).
    Int8,
}

impl Precision {
    /// The precision used on `device`.
    pub fn on(self, device: Device) -> Result<Precision, ScorerError> {
        match (self, device) {
            (Precision::Auto, Device::Cpu) => Ok(Precision::Int8),
            (Precision::Auto, _) => Ok(Precision::F32),
            (Precision::Int8, Device::Cpu) | (Precision::F32, _) => Ok(self),
            (Precision::Int8, _) => Err(ScorerError::Model(
                "int8 precision runs on the CPU only (fbgemm); use --precision f32".into(),
            )),
        }
    }

    /// The forward implementation for this precision on `device`.
    pub fn backend(self, device: Device) -> Result<EncoderBackend, ScorerError> {
        Ok(match self.on(device)? {
            Precision::Int8 => EncoderBackend::FusedInt8,
            _ => EncoderBackend::Fused,
        })
    }
}

enum Backend {
    Fused(BertForward),
    RustBert {
        model: Box<BertModel<BertEmbeddings>>,
        // Owns the weights the model borrows.
        _variables: nn::VarStore,
    },
}

pub struct Encoder {
    backend: Backend,
    tokenizer: BertTokenizer,
    device: Device,
    max_tokens: usize,
    hidden_size: i64,
}

/// Texts longer than this many characters per token allowed are cut before
/// tokenizing: a token covers at least one character, so nothing the model
/// would see is lost, and a 1 MB text costs no more than a tweet.
pub(crate) const CHARS_PER_TOKEN_BOUND: usize = 16;

impl Encoder {
    /// Loads `config.json`, `vocab.txt` and `model.safetensors` from `model_dir`.
    pub fn load(model_dir: &Path, device: Device, max_tokens: usize) -> Result<Self, ScorerError> {
        Self::load_with(model_dir, device, max_tokens, EncoderBackend::default())
    }

    /// Like [`Encoder::load`], with a chosen forward implementation.
    pub fn load_with(
        model_dir: &Path,
        device: Device,
        max_tokens: usize,
        backend: EncoderBackend,
    ) -> Result<Self, ScorerError> {
        let config_path = model_dir.join("config.json");
        let vocab_path = model_dir.join("vocab.txt");
        let weights_path = model_dir.join("model.safetensors");
        for path in [&config_path, &vocab_path, &weights_path] {
            if !path.is_file() {
                return Err(ScorerError::MissingFile(path.display().to_string()));
            }
        }
        let config = BertConfig::from_file(&config_path);
        let tokenizer = BertTokenizer::from_file(&vocab_path, true, true)
            .map_err(|error| ScorerError::Model(format!("{}: {error}", vocab_path.display())))?;
        let max_tokens = max_tokens.clamp(8, 512);
        let backend = match backend {
            EncoderBackend::Fused | EncoderBackend::FusedInt8 => {
                let forward = BertForward::load(
                    &weights_path,
                    config.hidden_size,
                    config.num_attention_heads,
                    config.num_hidden_layers,
                    layer_norm_eps(&config_path),
                    device,
                )?;
                Backend::Fused(if backend == EncoderBackend::FusedInt8 {
                    let batches = calibration_batches(&tokenizer, max_tokens, device);
                    forward.quantized_int8(&batches)?
                } else {
                    forward
                })
            }
            EncoderBackend::RustBert => {
                let mut variables = nn::VarStore::new(device);
                let model = BertModel::<BertEmbeddings>::new_with_optional_pooler(
                    variables.root(),
                    &config,
                    false,
                );
                // The copy into the variables must not be recorded by autograd.
                tch::no_grad(|| variables.read_safetensors(&weights_path)).map_err(|error| {
                    ScorerError::Model(format!("{}: {error}", weights_path.display()))
                })?;
                variables.freeze();
                Backend::RustBert {
                    model: Box::new(model),
                    _variables: variables,
                }
            }
        };
        Ok(Encoder {
            backend,
            tokenizer,
            device,
            max_tokens,
            hidden_size: config.hidden_size,
        })
    }

    pub fn hidden_size(&self) -> i64 {
        self.hidden_size
    }

    /// Returns the token ids of each text, truncated to the token limit.
    pub fn tokenize(&self, texts: &[&str]) -> Vec<Vec<i64>> {
        let bound = self.max_tokens * CHARS_PER_TOKEN_BOUND;
        let clipped: Vec<&str> = texts.iter().map(|text| clip_chars(text, bound)).collect();
        self.tokenizer
            .encode_list(
                &clipped,
                self.max_tokens,
                &TruncationStrategy::LongestFirst,
                0,
            )
            .into_iter()
            .map(|input| input.token_ids)
            .collect()
    }

    /// Returns one embedding row per token sequence ([n, hidden] on the CPU).
    /// Padding is dynamic and masked, so a row does not depend on the others.
    pub fn embed_tokens(&self, sequences: &[Vec<i64>]) -> Result<Tensor, ScorerError> {
        if sequences.is_empty() {
            return Ok(Tensor::zeros(
                [0, self.hidden_size],
                (Kind::Float, Device::Cpu),
            ));
        }
        let (ids, mask) = crate::batching::pad(sequences, 0, self.device);
        let hidden_state = match &self.backend {
            Backend::Fused(forward) => forward.forward(&ids, &mask)?,
            Backend::RustBert { model, .. } => {
                tch::no_grad(|| {
                    model.forward_t(Some(&ids), Some(&mask), None, None, None, None, None, false)
                })
                .map_err(|error| ScorerError::Model(error.to_string()))?
                .hidden_state
            }
        };
        let mask = mask.unsqueeze(-1).to_kind(Kind::Float);
        let summed = (hidden_state * &mask).sum_dim_intlist([1i64].as_slice(), false, Kind::Float);
        let counts = mask
            .sum_dim_intlist([1i64].as_slice(), false, Kind::Float)
            .clamp_min(1e-9);
        let pooled = summed / counts;
        let norms = pooled
            .norm_scalaropt_dim(2, [1i64].as_slice(), true)
            .clamp_min(1e-12);
        Ok((pooled / norms).to_device(Device::Cpu))
    }

    /// Embeds texts in length-sorted chunks of at most `chunk` texts (less
    /// padding); rows come back in input order.
    pub fn embed(&self, texts: &[&str], chunk: usize) -> Result<Tensor, ScorerError> {
        let sequences = self.tokenize(texts);
        crate::batching::length_sorted_rows(&sequences, chunk, self.hidden_size, |batch| {
            self.embed_tokens(batch)
        })
    }
}

/// Mentions of many kinds (praise, complaints, insults, questions, other
/// languages, emoji, a long rant) whose float activations set the fixed input
/// ranges of the int8 layers.
const CALIBRATION_TEXTS: &str = include_str!("../calibration/texts.txt");

fn calibration_batches(
    tokenizer: &BertTokenizer,
    max_tokens: usize,
    device: Device,
) -> Vec<(Tensor, Tensor)> {
    let texts: Vec<&str> = CALIBRATION_TEXTS
        .lines()
        .filter(|line| !line.is_empty())
        .collect();
    let sequences: Vec<Vec<i64>> = tokenizer
        .encode_list(&texts, max_tokens, &TruncationStrategy::LongestFirst, 0)
        .into_iter()
        .map(|input| input.token_ids)
        .collect();
    sequences
        .chunks(16)
        .map(|chunk| crate::batching::pad(chunk, 0, device))
        .collect()
}

/// `layer_norm_eps` from config.json (BERT's 1e-12 when absent).
fn layer_norm_eps(config_path: &Path) -> f64 {
    std::fs::read(config_path)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
        .and_then(|config| config["layer_norm_eps"].as_f64())
        .unwrap_or(1e-12)
}

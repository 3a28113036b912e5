//! The model thread: owns the encoder and heads (not `Sync`), takes batches of
//! texts over a bounded channel, answers over oneshot channels. Inference
//! never runs on tokio workers.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::time::Instant;

use tokio::sync::{mpsc, oneshot};

use crate::error::ScorerError;
use crate::heads::TextScores;
use crate::metrics::ScorerMetrics;
use crate::text_scorer::{ClassifierSettings, TextScorer};

/// How the model thread is set up.
#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// The MiniLM encoder (needed unless classifiers replace both heads).
    pub model_dir: Option<PathBuf>,
    pub heads_dir: PathBuf,
    /// Hugging Face classifiers used instead of the heads.
    pub classifiers: ClassifierSettings,
    pub device: tch::Device,
    pub max_tokens: usize,
    pub precision: crate::encoder::Precision,
    pub intra_op_threads: usize,
    pub max_batch: usize,
    pub cache_capacity: usize,
}

struct Request {
    texts: Vec<String>,
    reply: oneshot::Sender<Result<Vec<TextScores>, String>>,
}

/// A cheap, cloneable handle to the model thread.
#[derive(Clone)]
pub struct ScoringHandle {
    sender: mpsc::Sender<Request>,
    model: earshot_schema::ModelInfo,
}

impl ScoringHandle {
    /// Loads the model on a new thread; returns once it is ready.
    pub fn spawn(settings: WorkerSettings, metrics: ScorerMetrics) -> Result<Self, ScorerError> {
        let (sender, receiver) = mpsc::channel::<Request>(4);
        let (ready_sender, ready_receiver) = std::sync::mpsc::channel();
        std::thread::Builder::new()
            .name("earshot-model".into())
            .spawn(move || {
                if settings.intra_op_threads > 0 {
                    tch::set_num_threads(settings.intra_op_threads as i32);
                }
                let loaded = TextScorer::load(
                    settings.model_dir.as_deref(),
                    &settings.heads_dir,
                    &settings.classifiers,
                    settings.device,
                    settings.max_tokens,
                    settings.precision,
                );
                match loaded {
                    Ok(scorer) => {
                        let _ = ready_sender.send(Ok(scorer.model_info()));
                        serve(scorer, receiver, &settings, &metrics);
                    }
                    Err(error) => {
                        let _ = ready_sender.send(Err(error));
                    }
                }
            })?;
        let model = ready_receiver
            .recv()
            .map_err(|_| ScorerError::WorkerGone)??;
        Ok(ScoringHandle { sender, model })
    }

    pub fn model_info(&self) -> &earshot_schema::ModelInfo {
        &self.model
    }

    /// Scores texts; the answer comes back in input order.
    pub async fn score(&self, texts: Vec<String>) -> Result<Vec<TextScores>, ScorerError> {
        let (reply, answer) = oneshot::channel();
        self.sender
            .send(Request { texts, reply })
            .await
            .map_err(|_| ScorerError::WorkerGone)?;
        answer
            .await
            .map_err(|_| ScorerError::WorkerGone)?
            .map_err(ScorerError::Model)
    }
}

/// Recently scored texts, oldest evicted first. Copy-paste campaigns and
/// retweets repeat a text many times within minutes.
struct RecentCache {
    capacity: usize,
    entries: HashMap<String, TextScores>,
    order: VecDeque<String>,
}

impl RecentCache {
    fn new(capacity: usize) -> Self {
        RecentCache {
            capacity,
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    fn get(&self, text: &str) -> Option<&TextScores> {
        self.entries.get(text)
    }

    fn insert(&mut self, text: String, scores: TextScores) {
        if self.capacity == 0 || self.entries.contains_key(&text) {
            return;
        }
        if self.entries.len() >= self.capacity {
            if let Some(oldest) = self.order.pop_front() {
                self.entries.remove(&oldest);
            }
        }
        self.order.push_back(text.clone());
        self.entries.insert(text, scores);
    }
}

fn serve(
    scorer: TextScorer,
    mut receiver: mpsc::Receiver<Request>,
    settings: &WorkerSettings,
    metrics: &ScorerMetrics,
) {
    let mut cache = RecentCache::new(settings.cache_capacity);
    while let Some(request) = receiver.blocking_recv() {
        let result = score_with_cache(
            &scorer,
            &mut cache,
            &request.texts,
            settings.max_batch,
            metrics,
        );
        let _ = request
            .reply
            .send(result.map_err(|error| error.to_string()));
    }
}

fn score_with_cache(
    scorer: &TextScorer,
    cache: &mut RecentCache,
    texts: &[String],
    max_batch: usize,
    metrics: &ScorerMetrics,
) -> Result<Vec<TextScores>, ScorerError> {
    let mut results: Vec<Option<TextScores>> =
        texts.iter().map(|text| cache.get(text).cloned()).collect();
    let mut misses: Vec<&str> = Vec::new();
    for (text, result) in texts.iter().zip(&results) {
        if result.is_none() && !misses.contains(&text.as_str()) {
            misses.push(text);
        }
    }
    metrics
        .cache_hits
        .inc_by((texts.len() - results.iter().filter(|r| r.is_none()).count()) as u64);
    if !misses.is_empty() {
        let started = Instant::now();
        let scores = scorer.score(&misses, max_batch)?;
        metrics
            .inference_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.model_batch_size.observe(misses.len() as f64);
        metrics.texts_scored.inc_by(misses.len() as u64);
        let fresh: HashMap<&str, TextScores> = misses.iter().copied().zip(scores).collect();
        for (text, result) in texts.iter().zip(results.iter_mut()) {
            if result.is_none() {
                if let Some(scores) = fresh.get(text.as_str()) {
                    *result = Some(scores.clone());
                }
            }
        }
        for (text, scores) in fresh {
            cache.insert(text.to_owned(), scores);
        }
    }
    results
        .into_iter()
        .map(|result| result.ok_or_else(|| ScorerError::Model("a text was left unscored".into())))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use earshot_schema::{Sentiment, SentimentProbs, Toxicity};

    fn scores(value: f32) -> TextScores {
        TextScores {
            sentiment: Sentiment::from_probs(SentimentProbs {
                negative: value,
                neutral: 0.0,
                positive: 1.0 - value,
            }),
            toxicity: Toxicity::from_score(value, 0.5),
        }
    }

    #[test]
    fn cache_evicts_oldest_first() {
        let mut cache = RecentCache::new(2);
        cache.insert("a".into(), scores(0.1));
        cache.insert("b".into(), scores(0.2));
        cache.insert("c".into(), scores(0.3));
        assert!(cache.get("a").is_none());
        assert_eq!(cache.get("c"), Some(&scores(0.3)));
        assert_eq!(cache.entries.len(), 2);
    }
}

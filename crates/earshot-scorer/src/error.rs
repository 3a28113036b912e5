/// Errors from loading, training and running the scoring model.
#[derive(Debug, thiserror::Error)]
pub enum ScorerError {
    #[error("model file missing: {0}")]
    MissingFile(String),
    #[error("model error: {0}")]
    Model(String),
    #[error("invalid heads: {0}")]
    Heads(String),
    #[error("training data: {0}")]
    Data(String),
    #[error("the model thread stopped")]
    WorkerGone,
    #[error(transparent)]
    Torch(#[from] tch::TchError),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

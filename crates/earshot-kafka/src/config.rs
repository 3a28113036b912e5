use std::time::Duration;

use earshot_service::parse_duration;
use rdkafka::ClientConfig;

use crate::error::{KafkaPlumbingError, Result};

/// Connection settings shared by every Kafka client of a service.
///
/// Any librdkafka property can be passed with `--kafka-opt key=value` or from
/// a properties file (`--kafka-opts-file`), which is where secrets belong.
#[derive(Debug, Clone, clap::Args)]
pub struct KafkaArgs {
    /// Bootstrap brokers, comma-separated host:port.
    #[arg(long, env = "EARSHOT_BROKERS", default_value = "127.0.0.1:9092")]
    pub brokers: String,
    /// Extra librdkafka property as key=value; repeat the flag or separate with `;` in env.
    #[arg(long = "kafka-opt", env = "EARSHOT_KAFKA_OPTS", value_delimiter = ';')]
    pub kafka_opts: Vec<String>,
    /// File of librdkafka properties (key=value lines, `#` comments), e.g. SASL credentials.
    #[arg(long, env = "EARSHOT_KAFKA_OPTS_FILE")]
    pub kafka_opts_file: Option<String>,
    /// security.protocol: plaintext, ssl, sasl_plaintext or sasl_ssl.
    #[arg(long, env = "EARSHOT_KAFKA_SECURITY_PROTOCOL")]
    pub security_protocol: Option<String>,
    /// sasl.mechanisms, e.g. PLAIN, SCRAM-SHA-256, SCRAM-SHA-512.
    #[arg(long, env = "EARSHOT_KAFKA_SASL_MECHANISM")]
    pub sasl_mechanism: Option<String>,
    /// sasl.username.
    #[arg(long, env = "EARSHOT_KAFKA_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// sasl.password; prefer the env variable or --kafka-opts-file over the flag.
    #[arg(long, env = "EARSHOT_KAFKA_SASL_PASSWORD", hide_env_values = true)]
    pub sasl_password: Option<String>,
    /// ssl.ca.location: CA bundle used to verify the brokers.
    #[arg(long, env = "EARSHOT_KAFKA_SSL_CA_LOCATION")]
    pub ssl_ca_location: Option<String>,
}

impl KafkaArgs {
    /// Returns settings for a local, unauthenticated broker.
    pub fn local(brokers: &str) -> Self {
        KafkaArgs {
            brokers: brokers.to_owned(),
            kafka_opts: Vec::new(),
            kafka_opts_file: None,
            security_protocol: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password: None,
            ssl_ca_location: None,
        }
    }

    /// Builds the base client configuration; later properties override earlier
    /// ones in this order: defaults, named flags, the file, `--kafka-opt`.
    pub fn client_config(&self) -> Result<ClientConfig> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.brokers);
        let named = [
            ("security.protocol", &self.security_protocol),
            ("sasl.mechanisms", &self.sasl_mechanism),
            ("sasl.username", &self.sasl_username),
            ("sasl.password", &self.sasl_password),
            ("ssl.ca.location", &self.ssl_ca_location),
        ];
        for (key, value) in named {
            if let Some(value) = value {
                config.set(key, value);
            }
        }
        if let Some(path) = &self.kafka_opts_file {
            let text =
                std::fs::read_to_string(path).map_err(|source| KafkaPlumbingError::ReadFile {
                    path: path.clone(),
                    source,
                })?;
            for (key, value) in parse_properties(&text)? {
                config.set(key, value);
            }
        }
        for option in &self.kafka_opts {
            let (key, value) = split_property(option)?;
            config.set(key, value);
        }
        Ok(config)
    }
}

/// Settings of one consume -> process -> produce pipeline.
#[derive(Debug, Clone, clap::Args)]
pub struct PipelineArgs {
    /// Consumer group id.
    #[arg(long, env = "EARSHOT_GROUP_ID")]
    pub group_id: Option<String>,
    /// Static group membership (librdkafka `group.instance.id`): a stable id
    /// per replica, e.g. the pod or compose service name. A replica restarted
    /// after a crash takes its partitions back at once instead of waiting for
    /// the broker to expire the dead member (RELIABILITY.md). Must differ
    /// between replicas of one group.
    #[arg(long, env = "EARSHOT_GROUP_INSTANCE_ID")]
    pub group_instance_id: Option<String>,
    /// Topic the dead-lettered records go to, with the reason in headers.
    #[arg(long, env = "EARSHOT_DLQ_TOPIC", default_value = "mentions.dlq")]
    pub dlq_topic: String,
    /// Dead-lettered payloads larger than this keep only their first bytes
    /// (header earshot.dlq.payload.truncated_from has the original size), so
    /// that a huge poison message cannot exceed the DLQ's message limit.
    #[arg(long, env = "EARSHOT_DLQ_MAX_PAYLOAD_BYTES", default_value_t = 512 * 1024)]
    pub dlq_max_payload_bytes: usize,
    /// Most records handed to the processor at once.
    #[arg(long, env = "EARSHOT_BATCH_SIZE", default_value_t = 64)]
    pub batch_size: usize,
    /// Longest wait to fill a batch once its first record arrived.
    #[arg(long, env = "EARSHOT_BATCH_TIMEOUT", default_value = "20ms", value_parser = parse_duration)]
    pub batch_timeout: Duration,
    /// Batches held between consuming and acknowledged delivery; when full,
    /// partitions are paused (backpressure) instead of buffering more. Also
    /// bounds how many queued batches one processor call merges. Resuming a
    /// paused partition costs a fetch round trip, so this stays well above
    /// the batches a broker round trip takes (4 held a fast pipeline to
    /// ~850 records/s on tansu, 16 does not pause it).
    #[arg(long, env = "EARSHOT_MAX_INFLIGHT_BATCHES", default_value_t = 16)]
    pub max_inflight_batches: usize,
    /// Longest time a shutdown waits for in-flight batches to be delivered.
    #[arg(long, env = "EARSHOT_DRAIN_TIMEOUT", default_value = "20s", value_parser = parse_duration)]
    pub drain_timeout: Duration,
    /// How often librdkafka reports statistics (consumer lag, broker state).
    #[arg(long, env = "EARSHOT_STATS_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    pub stats_interval: Duration,
}

fn split_property(option: &str) -> Result<(&str, &str)> {
    match option.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => Ok((key.trim(), value.trim())),
        _ => Err(KafkaPlumbingError::Config(format!(
            "expected key=value, got {:?}",
            redact_value_of(option)
        ))),
    }
}

fn parse_properties(text: &str) -> Result<Vec<(&str, &str)>> {
    let mut properties = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        properties.push(split_property(line)?);
    }
    Ok(properties)
}

fn redact_value_of(option: &str) -> String {
    match option.split_once('=') {
        Some((key, _)) if is_secret_key(key) => format!("{key}=[redacted]"),
        _ => option.to_owned(),
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "secret",
        "token",
        "jaas",
        "key.pem",
        ".key",
        "credentials",
        "oauthbearer.config",
    ]
    .iter()
    .any(|marker| key.contains(marker))
}

/// Returns the configuration as sorted key=value pairs with secret values
/// replaced, for logging the effective configuration.
pub fn redact_config(config: &ClientConfig) -> Vec<(String, String)> {
    let mut pairs: Vec<(String, String)> = config
        .config_map()
        .iter()
        .map(|(key, value)| {
            let shown = if is_secret_key(key) {
                "[redacted]".to_owned()
            } else {
                value.to_string()
            };
            (key.to_string(), shown)
        })
        .collect();
    pairs.sort();
    pairs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_flags_file_and_options_and_redacts_secrets() {
        let directory = std::env::temp_dir().join(format!("earshot-kafka-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("dir");
        let file = directory.join("client.properties");
        std::fs::write(
            &file,
            "# creds\nsasl.password = s3cret-from-file\nclient.id=from-file\n",
        )
        .expect("write");
        let args = KafkaArgs {
            kafka_opts: vec!["client.id=from-flag".into(), "linger.ms=7".into()],
            kafka_opts_file: Some(file.display().to_string()),
            security_protocol: Some("sasl_ssl".into()),
            sasl_mechanism: Some("SCRAM-SHA-512".into()),
            sasl_username: Some("earshot".into()),
            sasl_password: Some("s3cret-from-flag".into()),
            ..KafkaArgs::local("broker-1:9092,broker-2:9092")
        };
        let config = args.client_config().expect("config");
        assert_eq!(
            config.get("bootstrap.servers"),
            Some("broker-1:9092,broker-2:9092")
        );
        assert_eq!(config.get("security.protocol"), Some("sasl_ssl"));
        assert_eq!(config.get("sasl.password"), Some("s3cret-from-file"));
        assert_eq!(config.get("client.id"), Some("from-flag"));
        assert_eq!(config.get("linger.ms"), Some("7"));
        let shown = format!("{:?}", redact_config(&config));
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("[redacted]"));
        std::fs::remove_dir_all(&directory).expect("cleanup");
    }

    #[test]
    fn rejects_options_without_equals_without_echoing_secrets() {
        let args = KafkaArgs {
            kafka_opts: vec!["novalue".into()],
            ..KafkaArgs::local("localhost:9092")
        };
        assert!(args.client_config().is_err());
        assert_eq!(
            redact_value_of("sasl.password=hunter2"),
            "sasl.password=[redacted]"
        );
    }
}

//! Reading mention files: JSONL and CSV, plain or gzipped, in any encoding
//! `encoding_rs` knows, with CSV columns mapped onto mention fields.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};
use earshot_schema::{Mention, ValidationLimits};
use encoding_rs::Encoding;
use serde_json::{Map, Value};

/// How a file's records are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InputFormat {
    /// One JSON mention per line.
    Jsonl,
    /// A header row, then one mention per row.
    Csv,
}

impl InputFormat {
    /// Guesses from the name: `.csv` or `.csv.gz` is CSV, anything else JSONL.
    pub fn from_path(path: &Path) -> InputFormat {
        let name = path
            .file_name()
            .map(|name| name.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        let name = name.strip_suffix(".gz").unwrap_or(&name);
        if name.ends_with(".csv") || name.ends_with(".tsv") {
            InputFormat::Csv
        } else {
            InputFormat::Jsonl
        }
    }
}

/// How `created_at` is written in the input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeFormat {
    /// RFC 3339, e.g. `2026-11-23T08:00:00Z` (the wire format; no conversion).
    Rfc3339,
    /// Seconds since the epoch.
    EpochSeconds,
    /// Milliseconds since the epoch.
    EpochMillis,
    /// A `strftime` pattern read as UTC unless it has an offset, e.g. `%Y%m%d%H%M%SZ`.
    Pattern(String),
}

impl std::str::FromStr for TimeFormat {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Ok(match text {
            "rfc3339" => TimeFormat::Rfc3339,
            "epoch" | "epoch-s" => TimeFormat::EpochSeconds,
            "epoch-ms" => TimeFormat::EpochMillis,
            pattern if pattern.contains('%') => TimeFormat::Pattern(pattern.to_owned()),
            other => {
                return Err(format!(
                    "invalid time format {other:?}: expected rfc3339, epoch-s, epoch-ms or a strftime pattern"
                ))
            }
        })
    }
}

impl TimeFormat {
    /// Converts a `created_at` value to RFC 3339; `None` when it does not parse
    /// (the schema's validation then names the field and value).
    fn normalize(&self, value: &Value) -> Option<String> {
        let text = match value {
            Value::String(text) => text.trim().to_owned(),
            Value::Number(number) => number.to_string(),
            _ => return None,
        };
        let timestamp: DateTime<Utc> = match self {
            TimeFormat::Rfc3339 => return None,
            TimeFormat::EpochSeconds => {
                let seconds: f64 = text.parse().ok()?;
                DateTime::from_timestamp_millis((seconds * 1000.0).round() as i64)?
            }
            TimeFormat::EpochMillis => DateTime::from_timestamp_millis(text.parse().ok()?)?,
            TimeFormat::Pattern(pattern) => match DateTime::parse_from_str(&text, pattern) {
                Ok(with_offset) => with_offset.with_timezone(&Utc),
                Err(_) => {
                    Utc.from_utc_datetime(&NaiveDateTime::parse_from_str(&text, pattern).ok()?)
                }
            },
        };
        Some(earshot_schema::format_timestamp(&timestamp))
    }
}

/// Mention fields and the CSV columns they come from (default: same name).
#[derive(Debug, Clone)]
pub struct ColumnMap {
    pairs: Vec<(&'static str, String)>,
}

/// The mention fields a CSV column can fill.
pub(crate) const MAPPABLE_FIELDS: [&str; 8] = [
    "id",
    "brand",
    "text",
    "created_at",
    "source",
    "author",
    "url",
    "lang",
];

impl ColumnMap {
    /// Parses `FIELD=COLUMN` settings over the defaults.
    pub fn parse(settings: &[String]) -> anyhow::Result<ColumnMap> {
        let mut pairs: Vec<(&'static str, String)> = MAPPABLE_FIELDS
            .iter()
            .map(|field| (*field, (*field).to_owned()))
            .collect();
        for setting in settings {
            let Some((field, column)) = setting.split_once('=') else {
                anyhow::bail!("--column expects FIELD=COLUMN, got {setting:?}");
            };
            let Some(pair) = pairs.iter_mut().find(|(known, _)| *known == field.trim()) else {
                anyhow::bail!(
                    "--column: unknown field {field:?}; mappable fields: {}",
                    MAPPABLE_FIELDS.join(", ")
                );
            };
            pair.1 = column.to_owned();
        }
        Ok(ColumnMap { pairs })
    }
}

/// Field values put on every mention (`--set`) or on a file's mentions that
/// lack a brand (`--brand-map`).
#[derive(Debug, Clone, Default)]
pub struct FieldOverrides {
    always: Vec<(String, String)>,
    brand_by_file: Vec<(PathBuf, String)>,
}

impl FieldOverrides {
    pub fn parse(settings: &[String], brand_map: &[String]) -> anyhow::Result<Self> {
        let always = settings
            .iter()
            .map(|setting| match setting.split_once('=') {
                Some((field, value)) if !field.trim().is_empty() => {
                    Ok((field.trim().to_owned(), value.to_owned()))
                }
                _ => anyhow::bail!("--set expects FIELD=VALUE, got {setting:?}"),
            })
            .collect::<anyhow::Result<_>>()?;
        let brand_by_file = brand_map
            .iter()
            .map(|setting| match setting.rsplit_once('=') {
                Some((path, brand)) if !path.is_empty() && !brand.trim().is_empty() => {
                    Ok((PathBuf::from(path), brand.trim().to_owned()))
                }
                _ => anyhow::bail!("--brand-map expects FILE=BRAND, got {setting:?}"),
            })
            .collect::<anyhow::Result<_>>()?;
        Ok(FieldOverrides {
            always,
            brand_by_file,
        })
    }

    fn brand_for(&self, path: &Path) -> Option<&str> {
        self.brand_by_file
            .iter()
            .find(|(mapped, _)| mapped == path)
            .map(|(_, brand)| brand.as_str())
    }

    fn sets(&self, field: &str) -> bool {
        self.always.iter().any(|(name, _)| name == field)
    }

    fn apply(&self, object: &mut Map<String, Value>, file_brand: Option<&str>) {
        if let Some(brand) = file_brand {
            let missing = object
                .get("brand")
                .is_none_or(|value| value.as_str().is_none_or(|text| text.trim().is_empty()));
            if missing {
                object.insert("brand".into(), Value::String(brand.to_owned()));
            }
        }
        for (field, value) in &self.always {
            object.insert(field.clone(), Value::String(value.clone()));
        }
    }
}

/// Everything that decides how input files become mentions.
#[derive(Debug, Clone)]
pub struct SourceOptions {
    pub format: Option<InputFormat>,
    pub encoding: &'static Encoding,
    pub columns: ColumnMap,
    pub delimiter: u8,
    pub time_format: TimeFormat,
    pub overrides: FieldOverrides,
    pub limits: ValidationLimits,
}

/// Why a line was rejected, for the reject file.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub kind: &'static str,
    pub reason: String,
    pub raw: String,
}

/// One non-empty input line (a record, for CSV) and what it decoded to.
#[derive(Debug)]
pub struct SourceLine {
    /// 1-based line number (for CSV: the line the record starts on).
    pub line: u64,
    pub mention: Result<Mention, Rejection>,
}

const RAW_EXCERPT_BYTES: usize = 2048;

/// Reads one input file record by record.
pub struct MentionReader {
    path: PathBuf,
    options: SourceOptions,
    kind: ReaderKind,
}

enum ReaderKind {
    Jsonl {
        lines: Box<dyn BufRead + Send>,
        line_number: u64,
        buffer: Vec<u8>,
    },
    Csv {
        rows: csv::Reader<Box<dyn BufRead + Send>>,
        /// Column index for each mapped field present in the header.
        field_columns: Vec<(&'static str, usize)>,
        record: csv::ByteRecord,
        /// Used to make ids for rows when the file has no id column.
        stem: String,
    },
}

/// Counts the bytes read from a file (compressed bytes for .gz), for progress.
struct CountingReader<R> {
    inner: R,
    counter: Arc<AtomicU64>,
}

impl<R: Read> Read for CountingReader<R> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let read = self.inner.read(buffer)?;
        self.counter.fetch_add(read as u64, Ordering::Relaxed);
        Ok(read)
    }
}

/// Opens a plain or gzipped file as a buffered byte stream.
pub(crate) fn open_bytes(
    path: &Path,
    bytes_read: Arc<AtomicU64>,
) -> anyhow::Result<Box<dyn BufRead + Send>> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let counted = CountingReader {
        inner: file,
        counter: bytes_read,
    };
    let gzipped = path.extension().is_some_and(|extension| extension == "gz");
    Ok(if gzipped {
        Box::new(BufReader::with_capacity(
            256 * 1024,
            flate2::read::MultiGzDecoder::new(BufReader::new(counted)),
        ))
    } else {
        Box::new(BufReader::with_capacity(256 * 1024, counted))
    })
}

impl MentionReader {
    /// Opens `path`; for CSV, reads the header and checks that the mapped
    /// columns a mention needs are there.
    pub fn open(
        path: &Path,
        options: &SourceOptions,
        bytes_read: Arc<AtomicU64>,
    ) -> anyhow::Result<Self> {
        let bytes = open_bytes(path, bytes_read)?;
        let format = options
            .format
            .unwrap_or_else(|| InputFormat::from_path(path));
        let kind = match format {
            InputFormat::Jsonl => ReaderKind::Jsonl {
                lines: bytes,
                line_number: 0,
                buffer: Vec::new(),
            },
            InputFormat::Csv => {
                let mut rows = csv::ReaderBuilder::new()
                    .delimiter(options.delimiter)
                    .flexible(false)
                    .from_reader(bytes);
                let header: Vec<String> = rows
                    .byte_headers()
                    .with_context(|| format!("cannot read the CSV header of {}", path.display()))?
                    .iter()
                    .map(|name| decode(options.encoding, name).trim().to_owned())
                    .collect();
                let mut field_columns = Vec::new();
                for (field, column) in &options.columns.pairs {
                    if let Some(index) = header.iter().position(|name| name == column) {
                        field_columns.push((*field, index));
                    }
                }
                let has = |field: &str| field_columns.iter().any(|(name, _)| *name == field);
                let brand_given =
                    options.overrides.sets("brand") || options.overrides.brand_for(path).is_some();
                for (field, supplied) in [
                    ("text", false),
                    ("created_at", false),
                    ("brand", brand_given),
                ] {
                    if !has(field) && !supplied && !options.overrides.sets(field) {
                        anyhow::bail!(
                            "{}: no column for `{field}` (columns: {}); map one with --column {field}=NAME{}",
                            path.display(),
                            header.join(", "),
                            if field == "brand" { " or give --set brand=... / --brand-map FILE=BRAND" } else { "" }
                        );
                    }
                }
                let stem = path
                    .file_name()
                    .map(|name| name.to_string_lossy().into_owned())
                    .unwrap_or_default();
                ReaderKind::Csv {
                    rows,
                    field_columns,
                    record: csv::ByteRecord::new(),
                    stem,
                }
            }
        };
        Ok(MentionReader {
            path: path.to_owned(),
            options: options.clone(),
            kind,
        })
    }

    /// Reads the next non-empty record; `Ok(None)` at the end of the file.
    /// Errors are only for files that cannot be read: bad records come back
    /// as rejections.
    pub fn next_line(&mut self) -> anyhow::Result<Option<SourceLine>> {
        let file_brand = self.options.overrides.brand_for(&self.path);
        match &mut self.kind {
            ReaderKind::Jsonl {
                lines,
                line_number,
                buffer,
            } => loop {
                buffer.clear();
                let read = lines
                    .read_until(b'\n', buffer)
                    .with_context(|| format!("cannot read {}", self.path.display()))?;
                if read == 0 {
                    return Ok(None);
                }
                *line_number += 1;
                let trimmed = trim_line_end(buffer);
                if trimmed.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                let decoded = decode_line(self.options.encoding, trimmed);
                let mention = Mention::object_from_json_bytes(&decoded, &self.options.limits)
                    .and_then(|mut object| {
                        self.options.overrides.apply(&mut object, file_brand);
                        normalize_time(&self.options.time_format, &mut object);
                        Mention::from_object(object, &self.options.limits)
                    })
                    .map_err(|error| Rejection {
                        kind: error.kind().as_str(),
                        reason: error.to_string(),
                        raw: excerpt(&decoded),
                    });
                return Ok(Some(SourceLine {
                    line: *line_number,
                    mention,
                }));
            },
            ReaderKind::Csv {
                rows,
                field_columns,
                record,
                stem,
            } => {
                loop {
                    let read = rows.read_byte_record(record);
                    let line = match &read {
                        Ok(_) => record.position().map_or(0, |position| position.line()),
                        Err(error) => error.position().map_or(0, |position| position.line()),
                    };
                    match read {
                        Ok(false) => return Ok(None),
                        Ok(true) => {
                            if record.iter().all(|field| field.trim_ascii().is_empty()) {
                                continue;
                            }
                            let mut object = Map::new();
                            for (field, index) in field_columns.iter() {
                                if let Some(value) = record.get(*index) {
                                    object.insert(
                                        (*field).to_owned(),
                                        Value::String(decode(self.options.encoding, value)),
                                    );
                                }
                            }
                            if !object.contains_key("id") {
                                object.insert("id".into(), Value::String(format!("{stem}:{line}")));
                            }
                            self.options.overrides.apply(&mut object, file_brand);
                            normalize_time(&self.options.time_format, &mut object);
                            let raw = record
                                .iter()
                                .map(|field| decode(self.options.encoding, field))
                                .collect::<Vec<_>>()
                                .join(",");
                            let mention = Mention::from_object(object, &self.options.limits)
                                .map_err(|error| Rejection {
                                    kind: error.kind().as_str(),
                                    reason: error.to_string(),
                                    raw: excerpt(raw.as_bytes()),
                                });
                            return Ok(Some(SourceLine { line, mention }));
                        }
                        Err(error) if error.is_io_error() => {
                            return Err(anyhow::Error::new(error)
                                .context(format!("cannot read {}", self.path.display())));
                        }
                        Err(error) => {
                            return Ok(Some(SourceLine {
                                line,
                                mention: Err(Rejection {
                                    kind: "invalid_csv",
                                    reason: error.to_string(),
                                    raw: String::new(),
                                }),
                            }));
                        }
                    }
                }
            }
        }
    }
}

fn normalize_time(format: &TimeFormat, object: &mut Map<String, Value>) {
    if let Some(value) = object.get_mut("created_at") {
        if let Some(normalized) = format.normalize(value) {
            *value = Value::String(normalized);
        }
    }
}

fn decode(encoding: &'static Encoding, bytes: &[u8]) -> String {
    encoding.decode_without_bom_handling(bytes).0.into_owned()
}

/// UTF-8 lines pass through untouched, so that invalid UTF-8 is rejected by
/// the schema rather than silently replaced.
fn decode_line<'a>(encoding: &'static Encoding, bytes: &'a [u8]) -> std::borrow::Cow<'a, [u8]> {
    if encoding == encoding_rs::UTF_8 {
        std::borrow::Cow::Borrowed(bytes)
    } else {
        std::borrow::Cow::Owned(decode(encoding, bytes).into_bytes())
    }
}

fn excerpt(bytes: &[u8]) -> String {
    String::from_utf8_lossy(&bytes[..bytes.len().min(RAW_EXCERPT_BYTES)]).into_owned()
}

pub(crate) fn trim_line_end(line: &[u8]) -> &[u8] {
    let mut end = line.len();
    while end > 0 && (line[end - 1] == b'\n' || line[end - 1] == b'\r') {
        end -= 1;
    }
    &line[..end]
}

/// Parses an `--encoding` label such as `utf-8`, `latin-1` or `windows-1252`.
pub fn parse_encoding(label: &str) -> Result<&'static Encoding, String> {
    // WHATWG labels, plus the spelling people type most ("latin-1"); like
    // browsers, latin-1 decodes as its superset windows-1252.
    let label = label.trim();
    let label = if label.eq_ignore_ascii_case("latin-1") {
        "latin1"
    } else {
        label
    };
    Encoding::for_label(label.as_bytes())
        .ok_or_else(|| format!("unknown encoding {label:?} (try utf-8, latin-1, windows-1252)"))
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn options(format: Option<InputFormat>) -> SourceOptions {
        SourceOptions {
            format,
            encoding: encoding_rs::UTF_8,
            columns: ColumnMap::parse(&[]).expect("columns"),
            delimiter: b',',
            time_format: TimeFormat::Rfc3339,
            overrides: FieldOverrides::default(),
            limits: ValidationLimits::default(),
        }
    }

    fn read_all(path: &Path, options: &SourceOptions) -> Vec<SourceLine> {
        let mut reader =
            MentionReader::open(path, options, Arc::new(AtomicU64::new(0))).expect("open");
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().expect("read") {
            lines.push(line);
        }
        lines
    }

    #[test]
    fn reads_gzipped_and_plain_jsonl_with_line_numbers() {
        let directory = tempfile::tempdir().expect("dir");
        let body = "{\"id\":\"1\",\"brand\":\"a\",\"text\":\"t\",\"created_at\":\"2026-01-01T00:00:00Z\"}\r\n\n{\"id\":2}\n";
        let plain = directory.path().join("a.jsonl");
        std::fs::write(&plain, body).expect("write");
        let gzipped = directory.path().join("a.jsonl.gz");
        let mut encoder = flate2::write::GzEncoder::new(
            File::create(&gzipped).expect("create"),
            flate2::Compression::fast(),
        );
        encoder.write_all(body.as_bytes()).expect("gz");
        encoder.finish().expect("finish");
        for path in [plain, gzipped] {
            let lines = read_all(&path, &options(None));
            assert_eq!(lines.len(), 2, "blank lines are skipped");
            assert_eq!(lines[0].line, 1);
            assert_eq!(lines[0].mention.as_ref().expect("valid").id, "1");
            assert_eq!(lines[1].line, 3);
            let rejection = lines[1].mention.as_ref().expect_err("invalid");
            assert_eq!(rejection.kind, "wrong_type");
        }
    }

    #[test]
    fn maps_latin1_csv_columns_and_converts_timestamps() {
        let directory = tempfile::tempdir().expect("dir");
        let path = directory.path().join("export.csv");
        // "Caf\xe9" is latin-1 for "Café"; the second row has a bad date.
        let mut bytes = b"Insult,Date,Comment\n0,20120618192155Z,\"Caf\xe9, \"\"great\"\"\"\n1,yesterday,rude\n".to_vec();
        bytes.extend_from_slice(b"0,20120618192156Z,\"two\nlines\"\n");
        std::fs::write(&path, bytes).expect("write");
        let mut options = options(None);
        options.encoding = parse_encoding("latin-1").expect("encoding");
        options.columns =
            ColumnMap::parse(&["text=Comment".into(), "created_at=Date".into()]).expect("columns");
        options.time_format = "%Y%m%d%H%M%SZ".parse().expect("format");
        options.overrides = FieldOverrides::parse(
            &["source=forum".into()],
            &[format!("{}=acme", path.display())],
        )
        .expect("overrides");
        let lines = read_all(&path, &options);
        assert_eq!(lines.len(), 3);
        let first = lines[0].mention.as_ref().expect("valid");
        assert_eq!(first.text, "Café, \"great\"");
        assert_eq!(first.brand, "acme");
        assert_eq!(first.source, "forum");
        assert_eq!(first.id, "export.csv:2");
        assert_eq!(
            earshot_schema::format_timestamp(&first.created_at),
            "2012-06-18T19:21:55Z"
        );
        let rejection = lines[1].mention.as_ref().expect_err("bad date");
        assert_eq!((lines[1].line, rejection.kind), (3, "invalid_timestamp"));
        assert_eq!(lines[2].line, 4);
        assert_eq!(lines[2].mention.as_ref().expect("valid").text, "two\nlines");
    }

    #[test]
    fn refuses_a_csv_without_the_needed_columns() {
        let directory = tempfile::tempdir().expect("dir");
        let path = directory.path().join("export.csv");
        std::fs::write(&path, "Comment,Date\nhi,2026-01-01T00:00:00Z\n").expect("write");
        let error = MentionReader::open(&path, &options(None), Arc::new(AtomicU64::new(0)))
            .err()
            .expect("missing text column");
        assert!(error.to_string().contains("--column text=NAME"), "{error}");
    }

    #[test]
    fn rows_with_the_wrong_number_of_fields_are_rejected_not_fatal() {
        let directory = tempfile::tempdir().expect("dir");
        let path = directory.path().join("m.csv");
        std::fs::write(
            &path,
            "id,brand,text,created_at\n1,a,x,2026-01-01T00:00:00Z\n2,a\n3,a,z,2026-01-01T00:00:00Z\n",
        )
        .expect("write");
        let lines = read_all(&path, &options(None));
        let kinds: Vec<_> = lines
            .iter()
            .map(|line| {
                (
                    line.line,
                    line.mention.as_ref().err().map(|error| error.kind),
                )
            })
            .collect();
        assert_eq!(kinds, vec![(2, None), (3, Some("invalid_csv")), (4, None)]);
    }

    #[test]
    fn epoch_times_convert() {
        let value = Value::from(1_700_000_000_u64);
        assert_eq!(
            TimeFormat::EpochSeconds.normalize(&value).as_deref(),
            Some("2023-11-14T22:13:20Z")
        );
        assert_eq!(
            TimeFormat::EpochMillis
                .normalize(&Value::from("1700000000500"))
                .as_deref(),
            Some("2023-11-14T22:13:20.500Z")
        );
        assert!("nonsense".parse::<TimeFormat>().is_err());
    }
}

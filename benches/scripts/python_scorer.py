"""Python transformers baseline for `earshot-scorer score`: the same MiniLM
weights and the same trained heads (heads.safetensors), the same batch size
and thread count, reading and writing JSONL. Prints one JSON line.

    python_scorer.py MODEL_DIR HEADS_DIR INPUT OUTPUT [--threads 2] [--batch 64]
                     [--sort-window N] [--int8]

--int8 applies PyTorch's own `quantize_dynamic` (int8 linear layers, fbgemm),
the Python counterpart of earshot's int8 encoder.

`Scorer` is shared with python_scorer_service.py (the Kafka baseline).
"""

import argparse
import json
import time

import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer

LABELS = ["negative", "neutral", "positive"]


def mlp(layers, features):
    for index, (weight, bias) in enumerate(layers):
        features = features @ weight.T + bias
        if index < len(layers) - 1:
            features = torch.relu(features)
    return features


class Scorer:
    """MiniLM with masked mean pooling and earshot's two trained heads."""

    def __init__(self, model_dir, heads_dir, threads, max_tokens=128, int8=False):
        torch.set_num_threads(threads)
        self.max_tokens = max_tokens
        self.tokenizer = AutoTokenizer.from_pretrained(model_dir)
        self.model = AutoModel.from_pretrained(model_dir).eval()
        if int8:
            self.model = torch.ao.quantization.quantize_dynamic(
                self.model, {torch.nn.Linear}, dtype=torch.qint8
            )
        tensors = load_file(f"{heads_dir}/heads.safetensors")
        manifest = json.load(open(f"{heads_dir}/heads.json"))

        def head(prefix):
            layers, index = [], 0
            while f"{prefix}.{index}.weight" in tensors:
                layers.append((tensors[f"{prefix}.{index}.weight"], tensors[f"{prefix}.{index}.bias"]))
                index += 1
            return layers

        self.sentiment_head, self.toxicity_head = head("sentiment"), head("toxicity")
        self.threshold = manifest["toxicity_threshold"]
        with torch.no_grad():  # warm-up, as the Rust runs get
            self.model(**self.tokenizer(["warm up"], return_tensors="pt"))

    def token_lengths(self, texts):
        encoded = self.tokenizer(texts, truncation=True, max_length=self.max_tokens)
        return [len(ids) for ids in encoded["input_ids"]]

    def score(self, texts):
        """Returns (sentiment probabilities, toxicity score) per text."""
        encoded = self.tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        with torch.no_grad():
            hidden = self.model(**encoded).last_hidden_state
            mask = encoded["attention_mask"].unsqueeze(-1).float()
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            embeddings = torch.nn.functional.normalize(pooled, dim=1)
            sentiment = torch.softmax(mlp(self.sentiment_head, embeddings), dim=-1)
            toxicity = torch.sigmoid(mlp(self.toxicity_head, embeddings)).squeeze(-1)
        return list(zip(sentiment.tolist(), toxicity.reshape(-1).tolist()))

    def annotate(self, mention, probs, toxic):
        """Adds earshot's `sentiment` and `toxicity` fields to a mention dict."""
        best = max(range(3), key=lambda index: probs[index])
        mention["sentiment"] = {"label": LABELS[best], "score": probs[best], "probs": dict(zip(LABELS, probs))}
        mention["toxicity"] = {"score": toxic, "is_toxic": toxic >= self.threshold}
        return mention


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("model_dir")
    parser.add_argument("heads_dir")
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument(
        "--sort-window", type=int, default=0,
        help="sort each window of this many lines by length before batching (0: input order)",
    )
    parser.add_argument("--int8", action="store_true", help="torch quantize_dynamic on the linear layers")
    args = parser.parse_args()
    scorer = Scorer(args.model_dir, args.heads_dir, args.threads, int8=args.int8)

    with open(args.input, encoding="utf-8") as lines:
        raw_lines = [line for line in lines if line.strip()]

    started = time.perf_counter()
    scored = 0
    with open(args.output, "w", encoding="utf-8") as out:
        window = max(args.sort_window, args.batch)
        for window_start in range(0, len(raw_lines), window):
            mentions = [json.loads(line) for line in raw_lines[window_start : window_start + window]]
            if args.sort_window:
                lengths = scorer.token_lengths([m["text"] for m in mentions])
                order = sorted(range(len(mentions)), key=lambda index: lengths[index])
            else:
                order = list(range(len(mentions)))
            results = {}
            for start in range(0, len(order), args.batch):
                indices = order[start : start + args.batch]
                scores = scorer.score([mentions[index]["text"] for index in indices])
                results.update(zip(indices, scores))
            for index, mention in enumerate(mentions):
                out.write(json.dumps(scorer.annotate(mention, *results[index]), ensure_ascii=False) + "\n")
                scored += 1
    seconds = time.perf_counter() - started
    print(json.dumps({"texts": scored, "seconds": seconds, "per_second": scored / seconds}))


if __name__ == "__main__":
    main()

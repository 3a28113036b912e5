"""Python transformers baseline for `earshot-scorer score`: the same MiniLM
weights and the same trained heads (heads.safetensors), the same batch size
and thread count, reading and writing JSONL. Prints one JSON line.

    python_scorer.py MODEL_DIR HEADS_DIR INPUT OUTPUT [--threads 2] [--batch 64]
"""

import argparse
import json
import time

import torch
from safetensors.torch import load_file
from transformers import AutoModel, AutoTokenizer


def mlp(layers, features):
    for index, (weight, bias) in enumerate(layers):
        features = features @ weight.T + bias
        if index < len(layers) - 1:
            features = torch.relu(features)
    return features


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
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    tokenizer = AutoTokenizer.from_pretrained(args.model_dir)
    model = AutoModel.from_pretrained(args.model_dir).eval()
    tensors = load_file(f"{args.heads_dir}/heads.safetensors")
    manifest = json.load(open(f"{args.heads_dir}/heads.json"))

    def head(prefix):
        layers, index = [], 0
        while f"{prefix}.{index}.weight" in tensors:
            layers.append((tensors[f"{prefix}.{index}.weight"], tensors[f"{prefix}.{index}.bias"]))
            index += 1
        return layers

    sentiment_head, toxicity_head = head("sentiment"), head("toxicity")
    threshold = manifest["toxicity_threshold"]
    labels = ["negative", "neutral", "positive"]

    with open(args.input, encoding="utf-8") as lines:
        raw_lines = [line for line in lines if line.strip()]
    with torch.no_grad():  # warm-up, as the Rust runs get
        model(**tokenizer(["warm up"], return_tensors="pt"))

    started = time.perf_counter()
    scored = 0
    with open(args.output, "w", encoding="utf-8") as out:
        window = max(args.sort_window, args.batch)
        for window_start in range(0, len(raw_lines), window):
            window_mentions = [json.loads(line) for line in raw_lines[window_start : window_start + window]]
            if args.sort_window:
                lengths = [len(ids) for ids in tokenizer([m["text"] for m in window_mentions], truncation=True, max_length=128)["input_ids"]]
                order = sorted(range(len(window_mentions)), key=lambda index: lengths[index])
            else:
                order = list(range(len(window_mentions)))
            results = {}
            for start in range(0, len(order), args.batch):
                indices = order[start : start + args.batch]
                texts = [window_mentions[index]["text"] for index in indices]
                encoded = tokenizer(
                    texts, padding=True, truncation=True, max_length=128, return_tensors="pt"
                )
                with torch.no_grad():
                    hidden = model(**encoded).last_hidden_state
                    mask = encoded["attention_mask"].unsqueeze(-1).float()
                    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                    embeddings = torch.nn.functional.normalize(pooled, dim=1)
                    sentiment = torch.softmax(mlp(sentiment_head, embeddings), dim=-1)
                    toxicity = torch.sigmoid(mlp(toxicity_head, embeddings)).squeeze(-1)
                for index, probs, toxic in zip(indices, sentiment.tolist(), toxicity.tolist()):
                    results[index] = (probs, toxic)
            mentions = window_mentions
            sentiment_rows = [results[index][0] for index in range(len(mentions))]
            toxicity_rows = [results[index][1] for index in range(len(mentions))]
            for mention, probs, toxic in zip(mentions, sentiment_rows, toxicity_rows):
                best = max(range(3), key=lambda index: probs[index])
                mention["sentiment"] = {
                    "label": labels[best],
                    "score": probs[best],
                    "probs": dict(zip(labels, probs)),
                }
                mention["toxicity"] = {"score": toxic, "is_toxic": toxic >= threshold}
                out.write(json.dumps(mention, ensure_ascii=False) + "\n")
                scored += 1
    seconds = time.perf_counter() - started
    print(json.dumps({"texts": scored, "seconds": seconds, "per_second": scored / seconds}))


if __name__ == "__main__":
    main()

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
        for start in range(0, len(raw_lines), args.batch):
            mentions = [json.loads(line) for line in raw_lines[start : start + args.batch]]
            texts = [mention["text"] for mention in mentions]
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
            for mention, probs, toxic in zip(mentions, sentiment.tolist(), toxicity.tolist()):
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

"""VADER (a sentiment lexicon with rules, vaderSentiment 3.3.2) on the same
held-out examples as earshot's heads, with the same metrics as
`earshot-scorer train` reports:

    earshot-scorer holdout --output-dir DIR
    python lexicon_baseline.py DIR

Sentiment: positive/negative accuracy (positive iff VADER's pos > neg, as the
heads' P(positive) > P(negative)), 3-class accuracy and macro-F1 with VADER's
usual compound cut-offs (+-0.05). Toxicity: ROC AUC of VADER's neg score."""

import json
import os
import sys

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer


def read(path):
    with open(path, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


def roc_auc(scores, labels):
    # Rank-sum formula, ties counted half (as earshot's train.rs).
    order = sorted(range(len(scores)), key=lambda index: scores[index])
    ranks = [0.0] * len(scores)
    position = 0
    while position < len(order):
        end = position
        while end + 1 < len(order) and scores[order[end + 1]] == scores[order[position]]:
            end += 1
        for index in order[position : end + 1]:
            ranks[index] = (position + end) / 2 + 1
        position = end + 1
    positives = sum(labels)
    negatives = len(labels) - positives
    rank_sum = sum(rank for rank, label in zip(ranks, labels) if label == 1)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def main() -> None:
    directory = sys.argv[1]
    analyzer = SentimentIntensityAnalyzer()
    sentiment = read(os.path.join(directory, "sentiment.holdout.jsonl"))
    polar = correct_polar = correct = 0
    predicted, truth = [], []
    for example in sentiment:
        scores = analyzer.polarity_scores(example["text"])
        label = example["label"]  # 0 negative, 1 neutral, 2 positive
        compound = scores["compound"]
        guess = 2 if compound >= 0.05 else 0 if compound <= -0.05 else 1
        predicted.append(guess)
        truth.append(label)
        correct += guess == label
        if label != 1:
            polar += 1
            correct_polar += (scores["pos"] > scores["neg"]) == (label == 2)
    f1s = []
    for cls in range(3):
        tp = sum(p == cls and t == cls for p, t in zip(predicted, truth))
        precision = tp / max(1, predicted.count(cls))
        recall = tp / max(1, truth.count(cls))
        f1s.append(2 * precision * recall / (precision + recall) if precision + recall else 0.0)
    toxicity = read(os.path.join(directory, "toxicity.holdout.jsonl"))
    negativity = [analyzer.polarity_scores(example["text"])["neg"] for example in toxicity]
    report = {
        "sentiment_holdout": {
            "examples": len(sentiment),
            "positive_negative_accuracy": round(correct_polar / polar, 3),
            "accuracy": round(correct / len(sentiment), 3),
            "macro_f1": round(sum(f1s) / 3, 3),
        },
        "toxicity_holdout": {
            "examples": len(toxicity),
            "roc_auc_of_vader_neg": round(roc_auc(negativity, [e["label"] for e in toxicity]), 3),
        },
    }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

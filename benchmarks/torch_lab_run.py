"""The lab's `bn` recipe trained to the end in PyTorch: an accuracy control for the Keras implementation.

    pip install -r benchmarks/requirements.txt
    python benchmarks/torch_lab_run.py --data-dir ../shared/data/cifar10-jpeg --epochs 30 --run-dir runs/torch-bn

The network and the batched augmentation of torch_reference.py (PyTorch's default initialization),
SGD momentum 0.9 with lr0 x 0.95^epoch, batch 128, standardization with the training split's
statistics, and the test split evaluated after every epoch in inference mode on the centered 28x28
crop. It answers "does the same recipe, written the way the lab writes it, reach a different
accuracy on the same data?": if both frameworks agree, a gap to published figures is the data's.
With --run-dir it writes the records a Keras run writes (config.json, history.csv after every epoch,
metrics.json at the end, with the same column names and summary), so `compare` and
docs/results/publish.py read it like any run.
"""

import argparse
import os
import platform
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks.torch_reference import augment, channel_stats, lab_bn_network, standardize  # noqa: E402
from keras_cnn.files import write_json  # noqa: E402
from keras_cnn.history import summarize, write_history  # noqa: E402
from pipelines.sources import load_splits  # noqa: E402


def standardized_center(batch: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC batch -> standardized float NCHW centered 28x28 crop (the lab's test-time view)."""
    return standardize(batch, mean, std)[:, :, 2:30, 2:30]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--lr", type=float, default=0.01)
    parser.add_argument("--lr-decay", type=float, default=0.95)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--run-dir", help="write config.json, history.csv and metrics.json here")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    splits = load_splits("cifar10", (32, 32, 3), data_dir=args.data_dir)
    train_images, test_images = torch.from_numpy(splits.train.images), torch.from_numpy(splits.test.images)
    train_labels = torch.from_numpy(splits.train.labels).long()
    test_labels = torch.from_numpy(splits.test.labels).long()
    mean, std = channel_stats(train_images)

    model = lab_bn_network().to(memory_format=torch.channels_last)  # PyTorch's faster format on this CPU
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=args.lr_decay)
    loss_fn = nn.CrossEntropyLoss()
    print(f"torch {torch.__version__}: bn recipe, lr0 {args.lr} x {args.lr_decay}^epoch, {args.epochs} epochs")
    if args.run_dir:
        os.makedirs(args.run_dir, exist_ok=True)
        write_json(os.path.join(args.run_dir, "config.json"), {
            "config": vars(args) | {"variant": "bn", "framework": f"torch {torch.__version__}", "val_split": 0.0},
            "data": {"train_images": len(train_labels), "test_images": len(test_labels)},
            "machine": {"processor": platform.processor() or platform.machine(), "threads": torch.get_num_threads()},
        })
    rows = []
    for epoch in range(1, args.epochs + 1):
        start, correct, seen, loss_sum = time.perf_counter(), 0, 0, 0.0
        model.train()
        for index in torch.randperm(len(train_labels)).split(args.batch_size):
            batch = augment(train_images[index], mean, std).contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            outputs = model(batch)
            loss = loss_fn(outputs, train_labels[index])
            loss.backward()
            optimizer.step()
            correct += int((outputs.argmax(1) == train_labels[index]).sum())
            loss_sum += loss.item() * len(index)
            seen += len(index)
        rate = optimizer.param_groups[0]["lr"]
        scheduler.step()
        model.eval()
        test_correct, test_loss = 0, 0.0
        with torch.no_grad():
            for i in range(0, len(test_labels), 1000):
                outputs = model(standardized_center(test_images[i : i + 1000], mean, std))
                test_correct += int((outputs.argmax(1) == test_labels[i : i + 1000]).sum())
                test_loss += float(loss_fn(outputs, test_labels[i : i + 1000])) * len(outputs)
        rows.append({"epoch": epoch, "learning_rate": rate, "accuracy": correct / seen, "loss": loss_sum / seen,
                     "test_accuracy": test_correct / len(test_labels), "test_loss": test_loss / len(test_labels),
                     "epoch_seconds": round(time.perf_counter() - start, 3)})
        print(f"epoch {epoch}: lr {rate:.5f}, train accuracy {correct / seen:.4f}, "
              f"test accuracy {test_correct / len(test_labels):.4f}, {rows[-1]['epoch_seconds']:.1f} s", flush=True)
        if args.run_dir:
            write_history(os.path.join(args.run_dir, "history.csv"), rows)
    if args.run_dir:
        write_json(os.path.join(args.run_dir, "metrics.json"), summarize(rows))

if __name__ == "__main__":
    main()

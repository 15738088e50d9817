"""The lab's `bn` recipe trained to the end in PyTorch: an accuracy control for the Keras implementation.

    pip install -r benchmarks/requirements.txt
    python benchmarks/torch_lab_run.py --data-dir ../shared/data/cifar10-jpeg --epochs 30

The network and the batched augmentation of torch_reference.py (PyTorch's default initialization),
SGD momentum 0.9 with lr0 x 0.95^epoch, batch 128, standardization with the training split's
statistics, and the test split evaluated after every epoch in inference mode on the centered 28x28
crop. It answers "does the same recipe, written the way the lab writes it, reach a different
accuracy on the same data?": if both frameworks agree, a gap to published figures is the data's.
"""

import argparse
import os
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from benchmarks.torch_reference import augment, channel_stats, lab_bn_network, standardize  # noqa: E402
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
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    splits = load_splits("cifar10", (32, 32, 3), data_dir=args.data_dir)
    train_images, test_images = torch.from_numpy(splits.train.images), torch.from_numpy(splits.test.images)
    train_labels, test_labels = torch.from_numpy(splits.train.labels).long(), torch.from_numpy(splits.test.labels).long()
    mean, std = channel_stats(train_images)

    model = lab_bn_network().to(memory_format=torch.channels_last)  # PyTorch's faster format on this CPU
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    scheduler = torch.optim.lr_scheduler.ExponentialLR(optimizer, gamma=args.lr_decay)
    loss_fn = nn.CrossEntropyLoss()
    print(f"torch {torch.__version__}: bn recipe, lr0 {args.lr} x {args.lr_decay}^epoch, {args.epochs} epochs")
    for epoch in range(1, args.epochs + 1):
        start, correct, seen = time.perf_counter(), 0, 0
        model.train()
        for index in torch.randperm(len(train_labels)).split(args.batch_size):
            batch = augment(train_images[index], mean, std).contiguous(memory_format=torch.channels_last)
            optimizer.zero_grad(set_to_none=True)
            outputs = model(batch)
            loss = loss_fn(outputs, train_labels[index])
            loss.backward()
            optimizer.step()
            correct += int((outputs.argmax(1) == train_labels[index]).sum())
            seen += len(index)
        rate = optimizer.param_groups[0]["lr"]
        scheduler.step()
        model.eval()
        with torch.no_grad():
            test_correct = sum(
                int((model(standardized_center(test_images[i : i + 1000], mean, std)).argmax(1) == test_labels[i : i + 1000]).sum())
                for i in range(0, len(test_labels), 1000)
            )
        print(f"epoch {epoch}: lr {rate:.5f}, train accuracy {correct / seen:.4f}, "
              f"test accuracy {test_correct / len(test_labels):.4f}, {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()

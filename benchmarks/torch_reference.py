"""A PyTorch training loop of the lab's `bn` recipe, as a speed reference for the Keras implementation.

    pip install -r benchmarks/requirements.txt
    python benchmarks/torch_reference.py --data-dir ../shared/data/cifar10-jpeg

Same network (conv 32/64/64 5x5 + BN + ReLU + max-pool, pool3 in ceil mode, fc 1000 + dropout 0.5,
fc 10), same batch (128), same augmentation (random 28x28 crop and horizontal flip, batched),
per-channel standardization, SGD momentum 0.9. The images are decoded by this project's own
loader into one uint8 array, so both frameworks start from the same pixels in memory.
Prints images/s per repeat and the median, for each of --formats: the default and the channels-last
memory format, each in float32 or, with a "_bf16" suffix, under bfloat16 autocast (PyTorch's
counterpart of Keras' mixed_bfloat16 policy: weights float32, convolutions and matmuls bfloat16).
"""

import argparse
import os
import statistics
import sys
import time

import torch
from torch import nn

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from pipelines.sources import load_splits  # noqa: E402


def lab_bn_network() -> nn.Sequential:
    def block(c_in: int, c_out: int, ceil: bool = False) -> list[nn.Module]:
        return [nn.Conv2d(c_in, c_out, 5, padding=2), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=ceil)]

    return nn.Sequential(
        *block(3, 32), *block(32, 64), *block(64, 64, ceil=True),
        nn.Flatten(), nn.Linear(4 * 4 * 64, 1000), nn.ReLU(), nn.Dropout(0.5), nn.Linear(1000, 10),
    )


def channel_stats(images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and standard deviation of uint8 NHWC images in [0, 1], shaped for NCHW batches."""
    pixels = images.float() / 255
    return pixels.mean(dim=(0, 1, 2)).view(1, 3, 1, 1), pixels.std(dim=(0, 1, 2)).view(1, 3, 1, 1)


def standardize(batch: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC batch -> standardized float NCHW batch."""
    return (batch.permute(0, 3, 1, 2).float() / 255 - mean) / std


def augment(batch: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 NHWC batch -> standardized, randomly cropped (28x28) and flipped float NCHW batch."""
    images = standardize(batch, mean, std)
    n = images.shape[0]
    tops, lefts = torch.randint(0, 5, (n,)), torch.randint(0, 5, (n,))
    rows = (tops[:, None] + torch.arange(28))[:, None, :, None].expand(n, 3, 28, 32)
    images = images.gather(2, rows)
    cols = (lefts[:, None] + torch.arange(28))[:, None, None, :].expand(n, 3, 28, 28)
    images = images.gather(3, cols)
    flip = torch.rand(n) < 0.5
    images[flip] = images[flip].flip(3)
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", required=True)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--formats", default="default,channels_last",
                        help="comma-separated: default, channels_last, default_bf16, channels_last_bf16")
    args = parser.parse_args()

    splits = load_splits("cifar10", (32, 32, 3), data_dir=args.data_dir)
    images = torch.from_numpy(splits.train.images)
    labels = torch.from_numpy(splits.train.labels).long()
    mean, std = channel_stats(images)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch_size}, "
          f"{args.steps} steps x {args.repeats} repeats")

    for memory_format in args.formats.split(","):
        torch.manual_seed(0)
        model = lab_bn_network()
        bf16 = memory_format.endswith("_bf16")
        fmt = torch.channels_last if memory_format.startswith("channels_last") else torch.contiguous_format
        model = model.to(memory_format=fmt)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = nn.CrossEntropyLoss()
        order = torch.randperm(len(labels))

        def step(i: int) -> None:
            index = order[(i * args.batch_size) % (len(order) - args.batch_size):][: args.batch_size]
            batch = augment(images[index], mean, std).contiguous(memory_format=fmt)
            optimizer.zero_grad(set_to_none=True)
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                loss = loss_fn(model(batch), labels[index])
            loss.backward()
            optimizer.step()

        model.train()
        for i in range(args.warmup):
            step(i)
        rates = []
        for repeat in range(args.repeats):
            start = time.perf_counter()
            for i in range(args.steps):
                step(i)
            rates.append(args.steps * args.batch_size / (time.perf_counter() - start))
            print(f"  {memory_format:<18} repeat {repeat + 1}: {rates[-1]:7.1f} images/s")
        print(f"{memory_format:<18} median {statistics.median(rates):7.1f} images/s")


if __name__ == "__main__":
    main()

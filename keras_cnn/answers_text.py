"""The words of the answer sheet: the lab's 34 questions, each answered in a few sentences.

No number is typed here. A `{name}` in a sentence is filled by keras_cnn/answers.py: from the network
the code builds (`describe`: shapes, weights, receptive fields), from the settings of the variants
(keras_cnn/config.py), or from the run records (`{bn.mean}`: the mean final test accuracy of bn's
seeds). A sentence whose record is missing is left out, and the sheet says which command makes it.
The only constants are the assumptions of the bag-of-words pipeline of Q12, stated as such.
"""

from dataclasses import dataclass

# Q12's assumptions (the earlier lab's bag-of-words pipeline, which this project does not run):
# dense SIFT descriptors of 128 values, a vocabulary of 1,000 visual words, one linear SVM per class.
BOW_DESCRIPTOR = 128
BOW_WORDS = 1000

# The variant whose records answer each "describe your results" question, and the one it is compared with.
# bn is also compared with momentum, the step before dropout: what dropout and batch normalization add together.
VARIANT_QUESTIONS = {13: ("lenet5", ()), 15: ("baseline", ()), 19: ("norm", ("baseline",)),
                     22: ("augment", ("norm",)), 26: ("momentum", ("augment",)), 29: ("dropout", ("momentum",)),
                     34: ("bn", ("dropout", "momentum"))}

PARTS = {1: "Part 1: convolutions and the network (Q1-Q12)", 2: "Part 2: training it on CIFAR-10 (Q13-Q18)",
         3: "Part 3: improving the results (Q19-Q34)"}

# Part 3 asks for one sentence per method: its principle and why it improves learning.
METHODS = (
    ("Standardization (norm)", "each channel is shifted by the training split's mean and divided by its standard "
     "deviation, so every input has a similar scale around zero; the gradients of all first-layer weights then have "
     "comparable sizes and one learning rate suits them all, so learning is faster and steadier."),
    ("Data augmentation (augment)", "each training image is seen through a random transformation that keeps its label "
     "(a 28x28 crop at a random place, a mirror image), so the network meets many more distinct examples, learns the "
     "invariances they show and memorizes the training set less."),
    ("Momentum (momentum)", "each step follows a running average of the past gradients, which damps the oscillations "
     "across steep directions and accelerates along directions where the gradients agree, so SGD progresses faster "
     "and more smoothly."),
    ("Learning-rate decay (momentum)", "large steps first to progress quickly, then steps that shrink each epoch, so "
     "the noise of stochastic gradients fades and the weights settle in a minimum: the final epochs vary less."),
    ("Dropout (dropout)", "in training each unit of fc4 is zeroed at random, so no unit can rely on particular others "
     "and the network behaves like an average of many thinned networks sharing their weights: a regularizer that "
     "narrows the train-test gap."),
    ("Batch normalization (bn)", "each convolution's outputs are standardized over the batch, then scaled and shifted "
     "by learned weights, so the distribution each layer receives stays stable while the layers before it change; "
     "this allows larger steps, speeds up learning and adds a little regularizing noise."),
)


@dataclass(frozen=True)
class Question:
    """One of the lab's questions: what it asks and the sentences of its answer (templates)."""

    number: int
    part: int
    asks: str
    answer: tuple[str, ...] = ()
    studies: tuple[str, ...] = ()  # the studies whose findings answer it (any others naming it are added)
    table: str | None = None  # a generated table: "layers" (Q10), "gaps" (Q30)
    figures: tuple[str, ...] = ()  # the lab's charts it shows: "progression", "curves-<variant>"

    def __post_init__(self):
        if not all(isinstance(part, tuple) for part in (self.answer, self.studies, self.figures)):
            raise TypeError(f"Q{self.number}: answer, studies and figures are tuples (a one-item tuple needs its "
                            "comma)")


def results_of(number: int, method: str, recipe: str, *more: str) -> Question:
    """Part 3's "results of" one step: its recipe, then its variant's measurements below it (VARIANT_QUESTIONS)."""
    return Question(number, 3, f"Results of {method}.", (f"{recipe}: measured below.", *more))


QUESTIONS = (
    Question(1, 1, "Output size and number of weights of a convolution (padding p, stride s, kernel k), against a "
             "fully-connected layer producing the same output.", (
                 "On an input of n x n x C_in, a convolution with C_out filters of k x k, padding p and stride s gives "
                 "an output of n_out x n_out x C_out with n_out = floor((n + 2p - k) / s) + 1.",
                 "Its weights: k x k x C_in x C_out + C_out (one k x k x C_in kernel and one bias per filter), "
                 "whatever n; a fully-connected layer with the same input and output needs (n x n x C_in) x "
                 "(n_out x n_out x C_out) + n_out x n_out x C_out.",
                 "conv1 here: {conv1_in} to {conv1_out} (k = {kernel}, p = {pad}, s = {stride}) with {conv1_w} "
                 "weights; the fully-connected layer would need {conv1_dense}, {conv1_ratio} times more.")),
    Question(2, 1, "Advantages and limits of convolutions over fully-connected layers.", (
        "Advantages: one small kernel is shared by every position, so far fewer weights ({conv1_w} for conv1 against "
        "{conv1_dense}) and less data to fit them; a pattern is detected wherever it appears (translation "
        "equivariance); the layer takes images of any size (Q4-Q6).",
        "Limits: a unit sees only its k x k window ({rf_conv1}x{rf_conv1} pixels for conv1), so seeing the whole "
        "object takes depth and pooling; the same filter at every position cannot specialize by location; "
        "convolutions are equivariant to translations only, not to rotations or changes of scale; and their cost in "
        "operations stays large (conv2: {conv2_macs} multiply-accumulates per image for {conv2_w} weights).")),
    Question(3, 1, "Why spatial pooling?", (
        "A {pool_size}x{pool_size} max-pool with stride {pool_stride} divides each side of the map by {pool_stride} "
        "with no weight ({conv1_out} to {pool1_out}), so later layers cost fewer operations and fc4 gets a small "
        "input ({flatten} values).",
        "It multiplies the jump between neighbouring units by {pool_stride}, so the next 5x5 convolution covers a "
        "wider field (conv2 sees {rf_conv2} pixels).",
        "Keeping the strongest response of each window makes the output change little when the input moves by a "
        "pixel: some invariance to small translations and deformations.")),
    Question(4, 1, "With an input image larger than 32x32, which layers still apply?", (
        "The convolutions, ReLUs and poolings slide over any size, so they still apply and their maps grow with the "
        "image: a 64x64 input gives pool3 a {pool3_64} map instead of {pool3_32}.",
        "fc4 does not: its weight matrix takes exactly {flatten} inputs (pool3's {pool3_32} map flattened), so a "
        "larger image must be resized or cropped, unless fc4 and fc5 are read as convolutions (Q5).")),
    Question(5, 1, "Fully-connected layers as convolutions.", (
        "A dense layer on an H x W x C map is a convolution with an H x W kernel over C channels, one filter per "
        "unit, without padding; a dense layer on a vector is a 1x1 convolution.",
        "fc4 is a {fc4_kernel} convolution with {fc4_units} filters on pool3's {pool3_32} map (its {fc4_w} weights "
        "reshaped) and fc5 a 1x1 convolution with {classes} filters; on a 32x32 image they give the same outputs "
        "(`keras_cnn.fully_convolutional`; a test checks equal predictions).")),
    Question(6, 1, "The output of the fully-convolutional network on a larger image, and its use.", (
        "The output becomes a map of class scores, one softmax per position: a 64x64 image gives {fc64_out} positions "
        "{fc64_jump} pixels apart, each seeing a {rf_fc4}-pixel window.",
        "Its use: the classifier runs at every position of a large image in one pass that shares the convolutions' "
        "work between overlapping windows (a sliding window at no extra cost), so the map says where each class is: "
        "detection and localization (`python train_keras.py heatmap`).")),
    Question(7, 1, "Receptive fields of the first and second convolutions, and of the deeper layers; interpret.", (
        "conv1's units see {rf_conv1}x{rf_conv1} pixels, conv2's {rf_conv2}x{rf_conv2} (r = r_before + (k - 1) x jump, "
        "and pool1 doubled the jump), conv3's {rf_conv3}x{rf_conv3}, pool3's {rf_pool3} and fc4's {rf_fc4}.",
        "A size is the window's extent: with 'same' padding part of it lies outside the image for units near the "
        "border, and no unit before {first_whole} sees the whole image.",
        "Interpretation: the fields grow with depth, so the first layer can only respond to local patterns (edges, "
        "colour blobs), the second to combinations of them (corners, textures), the third to parts of objects, and "
        "only fc4 combines the whole image into the class.")),
    Question(8, 1, "Padding and stride of a 5x5 convolution that keeps the spatial size.", (
        "Stride {stride} and padding (k - 1) / 2 = {pad} on each side: n_out = n + 2 x {pad} - {kernel} + 1 = n "
        "(Keras' padding='same').",)),
    Question(9, 1, "Padding and stride of a max-pooling that halves the size.", (
        "A {pool_size}x{pool_size} window with stride {pool_stride} and no padding: n_out = (n - {pool_size}) / "
        "{pool_stride} + 1 = n / 2 for even n (pool3 on the {conv3_28} map of a 28x28 crop pads one row and column, "
        "ceil mode, to give {pool3_28}).",)),
    Question(10, 1, "Output size and number of weights of every layer.", (
        "The lab's network on 32x32 images, beside the same network on the 28x28 crops used from `augment` on "
        "(generated by `describe`):",
        "Where the weights sit: fc4 holds {fc4_share} of them ({fc4_w} of {total_32}), the three convolutions "
        "{conv_share}; the convolutions do {conv_macs_share} of the multiply-accumulates ({macs_32} per 32x32 "
        "image).",
        "On 28x28 crops the convolutions' maps are {maps_28}; pool3 pools {conv3_28} to {pool3_28} in ceil mode, so "
        "fc4 still receives {flatten} inputs and every layer keeps its weights: {total_28} in all, with {macs_28} "
        "multiply-accumulates per image. bn adds {bn_extra} weights (a scale and an offset per channel)."),
        table="layers"),
    Question(11, 1, "The total number of weights against the number of training examples.", (
        "{total_32} weights against {baseline.images} training images: {weights_per_image} weights per image, and "
        "each image brings one label among {classes}.",
        "The network has far more free parameters than the labels constrain, so it can learn the training set by "
        "heart: the baseline reaches {baseline.train} train accuracy against {baseline.mean} on test (Q18). Hence "
        "the regularization of Part 3.")),
    Question(12, 1, "Against the bag-of-words + SVM approach (number of parameters).", (
        "Assumptions: dense SIFT descriptors of {bow_descriptor} values, a vocabulary of {bow_words} visual words "
        "found by k-means, and one linear SVM per class on the {bow_words}-bin histogram of an image.",
        "Parameters: the vocabulary {bow_words} x {bow_descriptor} = {bow_codebook} (fitted without labels) and the "
        "SVMs {classes} x ({bow_words} + 1) = {bow_svm} (fitted with labels): {bow_total} in all, {bow_ratio} times "
        "fewer than the CNN's {total_32}, and only {bow_svm} of them learn from the labels.",
        "The CNN learns its features from the labels, from pixels to classes; bag-of-words keeps hand-designed "
        "features (SIFT has no learned weight) and discards where the words are in the image. The price of the "
        "CNN is many more weights to fit, hence more data or regularization.")),
    Question(13, 2, "Run the provided code: LeNet5 on MNIST.", (
        "LeNet5 ({lenet5_total} weights) trains on MNIST with plain SGD at lr {lenet5_lr}, batch {lenet5_batch}, for "
        "{lenet5_epochs} epochs; its result is measured below.",)),
    Question(14, 2, "How are the train and test loss and accuracy computed differently?", (
        "The train figures are averages over the epoch's batches, measured while the weights change, in training "
        "mode (dropout on, batch normalization with each batch's statistics, augmented images).",
        "The test figures are measured once, at the end of the epoch, with the final weights, in inference mode, on "
        "unaugmented images; so the train figures lag the network, and with dropout they can be below the test "
        "ones."), studies=("train-vs-test",)),
    Question(15, 2, "The CIFAR-10 network trained to convergence (baseline): results.", (
        "The baseline as the lab defines it: pixels scaled to [0, 1], plain SGD at lr {baseline_lr}, batch "
        "{batch_size}, {epochs} epochs.",), figures=("progression",)),
    Question(16, 2, "Effect of the learning rate and of the batch size.", (
        "The learning rate sets the size of each step: too small and learning is slow, too large and it oscillates or "
        "diverges.",
        "At a fixed number of epochs a larger batch makes fewer steps, each less noisy, so it needs a larger rate to "
        "get as far; a smaller batch makes more, noisier steps."), studies=("lr-batch",)),
    Question(17, 2, "The error at the start of the first epoch, and why.", (
        "The initial weights are small and random, so the softmax is nearly uniform: each of the {classes} classes "
        "gets about 1/{classes}, the loss is about ln {classes} = {ln_classes} and the accuracy is chance, "
        "{chance}.",), studies=("initial-error",)),
    Question(18, 2, "Interpret the results: what is wrong?", (
        "The baseline reaches {baseline.train} train accuracy against {baseline.mean} on test (gap "
        "{baseline.gap}), and its test loss is lowest ({baseline.min_loss}) and ends at {baseline.final_loss} while "
        "the test accuracy stalls.",
        "It learns the training set by heart instead of what generalizes: overfitting. Part 3's methods reduce it."),
        figures=("curves-baseline",)),
    results_of(19, "standardization (norm)", "Standardization with the training split's statistics",
               "With the baseline's plain SGD at lr {baseline_lr} and no augmentation, standardized inputs did not "
               "always train to the end: {norm.diverged_share} diverged, after a train accuracy of "
               "{norm.diverged_train} (below; the mean, range and comparison are the finished seeds')."),
    Question(20, 3, "Why compute the normalization statistics on the training split only?", (
        "The test split stands for images the network has never seen: its statistics are not available when the "
        "model is built, and using them lets the test set shape the model, so the test accuracy would no longer "
        "measure generalization.",
        "The mean and standard deviation are part of the model, fitted on training data like its weights and stored "
        "with it (the Normalization layer, config.json), then applied unchanged to any new image.",
        "The training split's statistics of the norm run: mean {norm.stats_mean}, standard deviation "
        "{norm.stats_std} (RGB, pixels in [0, 1]); the lab's constants: mean {lab_mean}, standard deviation "
        "{lab_std}."), studies=("normalization",)),
    Question(21, 3, "Other normalizations (ZCA, ...).", (
        "Besides per-channel standardization: the mean image (one mean and standard deviation per pixel and "
        "channel), the lab's constants, and ZCA whitening, which decorrelates the pixels (neighbouring pixels are "
        "strongly correlated) and leaves mostly the edges.",), studies=("normalization",)),
    results_of(22, "data augmentation (augment)",
               "Random 28x28 crops and horizontal flips in training, the centered crop at test"),
    Question(23, 3, "Is the horizontal flip usable on every kind of image?", (
        "Only where a mirror image keeps the label: natural photos (a horse facing left is still a horse), not digits "
        "or text (a mirrored 2, 3 or 7 is no digit; b and d swap), nor images whose left and right matter (road signs "
        "with arrows, medical images with sides). A vertical flip is seldom valid for photos.",), studies=("flip",)),
    Question(24, 3, "Limits of data augmentation by transformation.", (
        "It only produces variations of the images one has, along the invariances one chooses: no new objects, poses, "
        "backgrounds or classes.",
        "A transformation that changes the label (a mirrored digit, a crop that cuts the object out) teaches wrong "
        "labels; strong transformations move the training images away from the test ones and cost fitting at a fixed "
        "number of epochs, so they need longer training or a larger network."), studies=("augmentations",)),
    Question(25, 3, "Other augmentations.", (
        "This project has {augmentations} (`--augment`); the study tries each alone.",), studies=("augmentations",)),
    results_of(26, "momentum and learning-rate decay; stability at the end of training",
               "Momentum {momentum} and the rate lr0 x {lr_decay}^(epoch - 1) from lr0 = {lr0}",
               "The spread of the test accuracy over the last five epochs measures the stability."),
    Question(27, 3, "The effect of momentum and of the learning-rate decay, each.", (
        "Momentum {momentum} averages the gradients of about the last 1 / (1 - {momentum}) = {momentum_factor} steps: "
        "it damps the zig-zag across steep directions, speeds the progress along consistent ones and multiplies the "
        "step by about {momentum_factor}, hence lr0 = {lr0} (the baseline's step of {baseline_lr}).",
        "The decay by {lr_decay} per epoch brings the rate to {lr_last} at epoch {epochs}: the steps and their noise "
        "shrink, so the accuracy settles at the end of training."), studies=("momentum-decay",)),
    Question(28, 3, "Other optimizers and learning-rate schedules.", (
        "Adaptive optimizers (Adam, AdamW, RMSprop) scale each weight's step by a running average of its squared "
        "gradients; Nesterov momentum takes the gradient where the momentum is about to lead; schedules other than "
        "the exponential decay lower the rate by steps, along a cosine, or rise then fall (one-cycle).",
        "This project has `--optimizer` {optimizers} and `--schedule` {schedules}."), studies=("optimizers",)),
    results_of(29, "dropout (dropout)", "Dropout {dropout_rate} between fc4 and fc5"),
    Question(30, 3, "What is regularization?", (
        "Any change to learning that aims at a lower test error rather than a lower training error: it limits how "
        "closely the network can fit the training set (a penalty on the weights such as weight decay, noise such as "
        "dropout, more varied data such as augmentation, early stopping), trading some training accuracy for a "
        "smaller train-test gap.",
        "The train-test gaps measured on the lab's steps (mean over the seeds):"), studies=("dropout-rate",),
        table="gaps"),
    Question(31, 3, "Interpretations of dropout.", (
        "An ensemble: each step trains one of the 2^n thinned networks (n units that can drop), all sharing their "
        "weights, and the network used at test time approximates the average of their predictions.",
        "Against co-adaptation: a unit cannot rely on particular others being there, so each must be useful on its "
        "own, which gives more robust features.",
        "Noise on the hidden units, a regularizer close to an adaptive weight decay; and, left on at test time, a way "
        "to sample the uncertainty of predictions (Monte Carlo dropout)."), studies=("dropout-modes",)),
    Question(32, 3, "The influence of the dropout rate.", (
        "A higher rate drops more units: a stronger regularizer that narrows the train-test gap, but past some rate "
        "the network can no longer fit and test accuracy falls too (underfitting).",), studies=("dropout-rate",)),
    Question(33, 3, "How does dropout behave in training and at test time?", (
        "In training each unit of fc4 is zeroed with probability p = {dropout_rate} and the kept ones are multiplied "
        "by 1 / (1 - p) (Keras' inverted dropout), so the expected input of fc5 is unchanged.",
        "At test time dropout is off: the whole network, deterministic, which approximates the average of the "
        "thinned networks; left on, each pass gives another prediction, and averaging many passes comes close to the "
        "deterministic one."), studies=("dropout-modes",)),
    results_of(34, "batch normalization (bn)",
               "Batch normalization after each convolution, before its ReLU ({bn_extra} more weights)"),
)

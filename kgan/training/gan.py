"""The paper's two GANs as Keras models: `train_step` is only the math.

`GAN` holds what both share (the models, the optional gradient penalty, the step);
`DCGAN` and `WGANGP` each add their loss, as the equations below.

Notation follows the paper: D is the discriminator (critic), G the generator,
x a real batch, z ~ N(0, I), x̃ = G(z).

Baseline (Table 1), binary cross-entropy with real = 1, fake = 0:
    L_D = ½ [BCE(D(x), 1) + BCE(D(x̃), 0)]          L_G = BCE(D(x̃), 1)

Improved (Table 2, Eq. 1), Wasserstein loss with gradient penalty (WGAN-GP):
    L_D = E[D(x̃)] − E[D(x)] + λ E[(‖∇_x̂ D(x̂)‖₂ − 1)²],   x̂ = α x + (1 − α) x̃, α ~ U(0, 1)
    L_G = −E[D(x̃)]

The loss, not the variant name, picks the class (`gan_class`): the literal reading of
Table 2 (BCE loss + penalty, sigmoid kept) is a `DCGAN` with gp_weight > 0, and its
penalty is then taken on the sigmoid output, as D is defined there.

Conditioned on attributes c (`--condition`), every D and G above takes them too: x̃ = G(z, c)
is made for the attributes c of the real batch x it is paired with, D(x, c), D(x̃, c), and
the penalty's D(x̂, c) keep those same c (`conditional.py` has how they enter the models).
With an AC-GAN head (`aux_weight` w > 0), D also guesses each attribute, p_a(· | x):
    L_D += w · E[Σ_a −log p_a(c_a | x)]        L_G += w · E[Σ_a −log p_a(c_a | x̃)]
reported apart (`d_attributes`, `g_attributes`, without w): `d_loss` and `g_loss` stay the
adversarial losses above, comparable with an unconditional run's.

Every random draw (z, α, the real batch) comes from the input pipeline, so this step is
a pure function of the batch and the model state. Losses are averaged over the *global*
batch so that gradients summed across replicas equal the single-device gradient.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from kgan.config import TrainConfig, diff_augmentations
from kgan.data.attributes import Conditions
from kgan.training import augment, standing_statistics
from kgan.training.learning_rate import LinearDecay
from kgan.training.models import build_discriminator, build_generator
from kgan.training.step_metrics import reported


class GAN(keras.Model):
    """Generator + discriminator trained by `fit` on batches from `training_dataset`.

    Subclasses give the loss: `d_output` (D as the paper defines it, from the logit),
    `discriminator_loss` and `generator_loss`.
    """

    def __init__(
        self,
        generator: keras.Model,
        discriminator: keras.Model,
        *,
        gp_weight: float = 0.0,
        n_critic: int = 1,
        ema_generator: keras.Model | None = None,
        ema_decay: float = 0.0,
        augment: tuple[str, ...] = (),
        conditions: Conditions | None = None,
        aux_weight: float = 0.0,
        z_dim: int = 100,
        seed: int = 0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.z_dim, self.seed = int(z_dim), int(seed)  # the noise the moving average's statistics are measured on
        self._settled_at: int | None = None  # the step at which they were last measured
        self.conditions = conditions  # a conditional pair: G and D also take the attributes' codes
        self.aux_weight = float(aux_weight) if conditions is not None else 0.0  # AC-GAN: D also guesses them
        self.generator = generator
        self.discriminator = discriminator
        self.ema_generator = ema_generator
        self.gp_weight = float(gp_weight)
        self.n_critic = int(n_critic)
        self.ema_decay = float(ema_decay)
        self.augment = tuple(augment)  # DiffAugment's transforms, applied to every image D sees
        self.trackers = {name: keras.metrics.Mean(name=name) for name in reported(self.aux_weight > 0)}
        self.learning_rates: LinearDecay | None = None  # set by the session, which knows the steps per epoch

    @staticmethod
    def from_config_values(config: TrainConfig, conditions: Conditions | None = None) -> GAN:
        """Build the models and the GAN (of the config's loss) that a TrainConfig (and, for a
        conditional run, its `Conditions`) describes."""
        generator = build_generator(config, conditions=conditions)
        discriminator = build_discriminator(config, conditions=conditions)
        ema = None
        if config.ema > 0:  # built last: its initial draws would otherwise move D's, and --ema would change training
            ema = build_generator(config, name="ema_generator", conditions=conditions)
            ema.set_weights(generator.get_weights())
            ema.trainable = False
        return gan_class(config.loss)(
            generator,
            discriminator,
            gp_weight=config.gp_weight,
            n_critic=config.n_critic,
            ema_generator=ema,
            ema_decay=config.ema,
            augment=diff_augmentations(config.augment),
            conditions=conditions,
            aux_weight=config.aux_weight,
            z_dim=config.z_dim,
            seed=config.seed,
        )

    def compile(self, g_optimizer: keras.optimizers.Optimizer, d_optimizer: keras.optimizers.Optimizer, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    def build_optimizers(self) -> None:
        """Create the optimizers' slots now (Keras makes them lazily), e.g. before a restore."""
        self.g_optimizer.build(self.generator.trainable_variables)
        self.d_optimizer.build(self.discriminator.trainable_variables)

    @property
    def metrics(self) -> list[keras.metrics.Metric]:
        return list(self.trackers.values())

    def running_means(self) -> dict[str, list[list[float]]] | None:
        """The epoch's loss trackers so far, {name: [totals, counts]} with one entry per replica,
        so that a run stopped inside an epoch reports that epoch's means over all its steps once
        resumed. None in a cluster, where other processes hold some replicas' shares."""
        strategy = self.distribute_strategy
        means = {}
        for name, tracker in self.trackers.items():
            totals = strategy.experimental_local_results(tracker.total.value)
            counts = strategy.experimental_local_results(tracker.count.value)
            if len(totals) != strategy.num_replicas_in_sync:
                return None
            means[name] = [[float(v.numpy()) for v in totals], [float(v.numpy()) for v in counts]]
        return means

    def resume_running_means(self, means: dict[str, list[list[float]]]) -> bool:
        """Set the trackers to `running_means()`'s values (after the epoch's reset); False, and
        nothing set, when they were taken with other trackers or replicas."""
        if set(means) != set(self.trackers):
            return False
        strategy = self.distribute_strategy
        pairs = []
        for name, (totals, counts) in means.items():
            tracker = self.trackers[name]
            for variable, values in ((tracker.total, totals), (tracker.count, counts)):
                replicas = strategy.experimental_local_results(variable.value)
                if len(replicas) != len(values):
                    return False
                pairs += zip(replicas, values)
        for variable, value in pairs:
            variable.assign(value)
        return True

    @property
    def sampler(self) -> keras.Model:
        """The generator used for samples: the moving average when there is one."""
        return self.ema_generator if self.ema_generator is not None else self.generator

    def call(self, inputs, training: bool = False) -> tf.Tensor:
        """z, or [z, codes] for a conditional pair → images."""
        return self.sampler(inputs, training=training)

    def _g(self, z: tf.Tensor, codes: tf.Tensor | None) -> tf.Tensor:
        """x̃ = G(z), or G(z, c) with the attributes' codes of a conditional pair."""
        return self.generator(z if codes is None else [z, codes], training=True)

    def _d(self, images: tf.Tensor, codes: tf.Tensor | None) -> tf.Tensor:
        """D(x), or D(x, c): the logit of `images` judged as images with attributes `codes`."""
        return self._judged(images, codes)[0]

    def _judged(self, images: tf.Tensor, codes: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor | None]:
        """(D's logit, and with an auxiliary classifier its attribute guesses `[B, Σ values]`)."""
        outputs = self.discriminator(images if codes is None else [images, codes], training=True)
        return (outputs[0], outputs[1]) if self.aux_weight else (outputs, None)

    def attribute_loss(self, guesses: tf.Tensor, codes: tf.Tensor) -> tf.Tensor:
        """AC-GAN's E[Σ_a −log p_a(c_a | x)]: cross-entropy of each attribute's guesses."""
        total, start = 0.0, 0
        for column, size in enumerate(self.conditions.sizes):
            logits = tf.cast(guesses[:, start : start + size], tf.float32)
            # One add at a time: AddN of three or more sums in whichever order its inputs arrive.
            total = total + tf.nn.sparse_softmax_cross_entropy_with_logits(codes[:, column], logits)
            start += size
        return self._mean(total)

    # ---- losses (the subclasses' equations) ---------------------------------------------

    def d_output(self, logits: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def discriminator_loss(self, real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def generator_loss(self, fake_logits: tf.Tensor) -> tf.Tensor:
        raise NotImplementedError

    def _mean(self, values: tf.Tensor) -> tf.Tensor:
        """Mean over the global batch: per-replica sum / (local batch × replicas)."""
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        count = tf.cast(tf.shape(values)[0] * replicas, values.dtype)
        return tf.reduce_sum(values) / count

    def gradient_penalty(
        self, real: tf.Tensor, fake: tf.Tensor, alpha: tf.Tensor, codes: tf.Tensor | None = None
    ) -> tf.Tensor:
        """E[(‖∇_x̂ D(x̂)‖₂ − 1)²], the norm over each whole image (not per pixel). A conditional
        critic is differentiated at (x̂, c) with the real image's attributes c, which its fake
        partner was made for: the gradient is taken along the line between the two images
        and nothing else."""
        real, fake = tf.cast(real, tf.float32), tf.cast(fake, tf.float32)
        mixed = alpha * real + (1.0 - alpha) * fake
        with tf.GradientTape() as tape:
            tape.watch(mixed)
            scores = tf.cast(self.d_output(self._d(mixed, codes)), tf.float32)
        grads = tape.gradient(scores, mixed)
        norms = tf.sqrt(tf.reduce_sum(tf.square(grads), axis=[1, 2, 3]) + 1e-12)
        return self._mean(tf.square(norms - 1.0))

    # ---- one training step --------------------------------------------------------------

    def _seen_by_d(self, images: tf.Tensor, draws: tf.Tensor | None, view: int) -> tf.Tensor:
        """`images` as D sees them: through DiffAugment's transforms (view 0: real, 1: fake,
        2: the fake of G's update, each with its own draws) when augmentation is on."""
        if not self.augment or draws is None:
            return images
        return augment.augment(images, draws[:, view * augment.DRAWS : (view + 1) * augment.DRAWS], self.augment)

    def _critic_update(
        self,
        real: tf.Tensor,
        fake: tf.Tensor,
        alpha: tf.Tensor,
        draws: tf.Tensor | None = None,
        codes: tf.Tensor | None = None,
    ) -> tuple[tf.Tensor, ...]:
        """One D step on a real batch and a (gradient-stopped) fake batch; the penalty's
        interpolates lie between the two as D sees them. A conditional pair's fakes were made
        for the real images' attributes `codes`, and D judges both with them. Returns the
        adversarial loss (with the penalty), the penalty, D(x), D(G(z)), the attribute term."""
        real = self._seen_by_d(real, draws, 0)
        fake = self._seen_by_d(tf.stop_gradient(fake), draws, 1)
        with tf.GradientTape() as tape:
            real_logits, real_guesses = self._judged(real, codes)
            fake_logits = self._d(fake, codes)
            adversarial = d_loss = self.discriminator_loss(real_logits, fake_logits)
            attributes = tf.constant(0.0)
            if real_guesses is not None:  # D learns the attributes from the real images only
                attributes = self.attribute_loss(real_guesses, codes)
                d_loss = d_loss + self.aux_weight * attributes
            penalty = tf.constant(0.0)
            if self.gp_weight > 0:
                penalty = self.gradient_penalty(real, fake, alpha, codes)
                d_loss = d_loss + self.gp_weight * penalty
                adversarial = adversarial + self.gp_weight * penalty
            scaled = self._scaled(self.d_optimizer, d_loss)
        grads = tape.gradient(scaled, self.discriminator.trainable_variables)
        self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_variables))
        d_real = self._mean(self.d_output(real_logits)[:, 0])
        d_fake = self._mean(self.d_output(fake_logits)[:, 0])
        return adversarial, penalty, d_real, d_fake, attributes

    @staticmethod
    def _scaled(optimizer, loss: tf.Tensor) -> tf.Tensor:
        """The loss as the optimizer wants its gradient: loss-scaled under mixed_float16."""
        return optimizer.scale_loss(loss) if isinstance(optimizer, keras.optimizers.LossScaleOptimizer) else loss

    def _update_ema(self) -> None:
        """θ_ema ← d·θ_ema + (1 − d)·θ for weights; BatchNorm statistics are left to `settle_ema`."""
        decay = self.ema_decay
        for ema_var, var in zip(self.ema_generator.weights, self.generator.weights):
            if var.trainable:
                ema_var.assign(decay * ema_var + (1.0 - decay) * var)

    def settle_ema(self) -> None:
        """Before the moving average makes images or is saved: measure its BatchNorm statistics
        on its own activations (G's describe G's weights, not the average's); once per step."""
        step = int(self.g_optimizer.iterations.numpy()) if getattr(self, "g_optimizer", None) is not None else -1
        if self.ema_generator is None or step == self._settled_at:
            return
        standing_statistics.measure(self.ema_generator, self.z_dim, self.seed, self.conditions)
        self._settled_at = step

    def _follow_schedule(self) -> None:
        """Both optimizers take this step's rates, read off the global step (G's updates)."""
        factor = self.learning_rates.factor(self.g_optimizer.iterations)
        self.g_optimizer.learning_rate.assign(self.learning_rates.g * factor)
        self.d_optimizer.learning_rate.assign(self.learning_rates.d * factor)

    def train_step(self, data: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        """n_critic D updates, each on a fresh real batch, then one G update.

        As in the reference DCGAN loop, the last critic step's fake batch x̃ = G(z) is
        also the one the G update scores with the freshly updated D: one G forward pass
        per step instead of two.
        """
        if self.learning_rates is not None:
            self._follow_schedule()
        batch = tf.shape(data["real"])[0] // self.n_critic

        def part(name: str, i: int) -> tf.Tensor:
            return data[name][i * batch : (i + 1) * batch]

        def draws(i: int) -> tf.Tensor | None:
            return part("augment", i) if "augment" in data else None

        def codes(i: int) -> tf.Tensor | None:  # a conditional pair's attributes, the real batch's
            return part("labels", i) if "labels" in data else None

        for i in range(self.n_critic - 1):
            fake = self._g(part("z", i), codes(i))
            self._critic_update(part("real", i), fake, part("alpha", i), draws(i), codes(i))
        last = self.n_critic - 1
        with tf.GradientTape() as tape:
            fake = self._g(part("z", last), codes(last))
            d_loss, penalty, d_real, d_fake, d_attributes = self._critic_update(
                part("real", last), fake, part("alpha", last), draws(last), codes(last)
            )
            fake_logits, fake_guesses = self._judged(self._seen_by_d(fake, draws(last), 2), codes(last))
            g_loss = objective = self.generator_loss(fake_logits)
            if fake_guesses is not None:  # and G makes images in which it reads the asked ones
                g_attributes = self.attribute_loss(fake_guesses, codes(last))
                objective = g_loss + self.aux_weight * g_attributes
            scaled = self._scaled(self.g_optimizer, objective)
        grads = tape.gradient(scaled, self.generator.trainable_variables)
        self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_variables))
        if self.ema_generator is not None:
            self._update_ema()
        values = {"d_loss": d_loss, "g_loss": g_loss, "penalty": penalty, "d_real": d_real, "d_fake": d_fake}
        if fake_guesses is not None:
            values.update(d_attributes=d_attributes, g_attributes=g_attributes)
        # Each replica holds its share of a global mean; the trackers sum over replicas.
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        for name, value in values.items():
            self.trackers[name].update_state(tf.cast(value, tf.float32) * replicas)
        return {name: tracker.result() for name, tracker in self.trackers.items()}


class DCGAN(GAN):
    """Table 1: binary cross-entropy with real = 1, fake = 0; D is sigmoid(logit).

        L_D = ½ [BCE(D(x), 1) + BCE(D(x̃), 0)]          L_G = BCE(D(x̃), 1)

    With gp_weight > 0 it is Table 2 read literally (BCE + penalty on the sigmoid output).
    """

    def d_output(self, logits: tf.Tensor) -> tf.Tensor:
        return tf.sigmoid(logits)

    def _bce(self, logits: tf.Tensor, label: float) -> tf.Tensor:
        """Per-sample BCE of sigmoid(logits) against a constant label, computed from logits."""
        labels = tf.fill(tf.shape(logits), tf.cast(label, logits.dtype))
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits), axis=-1)

    def discriminator_loss(self, real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
        return 0.5 * (self._mean(self._bce(real_logits, 1.0)) + self._mean(self._bce(fake_logits, 0.0)))

    def generator_loss(self, fake_logits: tf.Tensor) -> tf.Tensor:
        return self._mean(self._bce(fake_logits, 1.0))  # non-saturating: real label for fakes


class WGANGP(GAN):
    """Table 2 (Eq. 1) as WGAN-GP: a linear critic with the Wasserstein loss; the penalty
    λ E[(‖∇_x̂ D(x̂)‖₂ − 1)²] is added by `GAN` when gp_weight > 0.

        L_D = E[D(x̃)] − E[D(x)] + λ·penalty          L_G = −E[D(x̃)]
    """

    def d_output(self, logits: tf.Tensor) -> tf.Tensor:
        return logits

    def discriminator_loss(self, real_logits: tf.Tensor, fake_logits: tf.Tensor) -> tf.Tensor:
        return self._mean(fake_logits[:, 0]) - self._mean(real_logits[:, 0])

    def generator_loss(self, fake_logits: tf.Tensor) -> tf.Tensor:
        return -self._mean(fake_logits[:, 0])


GAN_CLASSES: dict[str, type[GAN]] = {"bce": DCGAN, "wasserstein": WGANGP}


def gan_class(loss: str) -> type[GAN]:
    """The GAN of a loss: "bce" → DCGAN, "wasserstein" → WGANGP."""
    return GAN_CLASSES[loss]


def make_optimizers(config: TrainConfig) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """(G optimizer, D optimizer): Adam(β1, β2) for the baseline, RMSProp for Table 2.

    Under mixed_float16 both are wrapped in a LossScaleOptimizer (Keras only does that
    for the optimizer given to `compile`, and this model has two).
    """
    if config.optimizer == "adam":
        pair = (
            keras.optimizers.Adam(config.lr_g, beta_1=config.beta1, beta_2=config.beta2, name="g_adam"),
            keras.optimizers.Adam(config.lr_d, beta_1=config.beta1, beta_2=config.beta2, name="d_adam"),
        )
    else:
        pair = (
            keras.optimizers.RMSprop(config.lr_g, name="g_rmsprop"),
            keras.optimizers.RMSprop(config.lr_d, name="d_rmsprop"),
        )
    if config.precision == "mixed_float16":
        return tuple(keras.optimizers.LossScaleOptimizer(opt, name=f"{opt.name}_scaled") for opt in pair)
    return pair

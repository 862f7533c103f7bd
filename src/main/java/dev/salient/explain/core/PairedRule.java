package dev.salient.explain.core;

import dev.salient.engine.Backend;
import dev.salient.engine.Tensor;
import dev.salient.model.ops.Op;

/**
 * A backward rule over paired rows: the tape's rows lie in two halves, the second holding
 * the references of the first, row by row (DeepLIFT's inputs and baselines, as Captum
 * concatenates them). When the rules ask for it ({@link BackwardRules#pairedHalves()}), the
 * tape walks the first half only: every other rule gets first-half views of its tensors, and
 * a paired rule gets {@link #applyHalf}, with the whole {@code in} and {@code out} (both
 * halves, which it reads) and first-half {@code dOut} and {@code dIn}.
 */
public interface PairedRule extends BackwardRule {
    /**
     * Writes into the first-half {@code dIn} what the first half of a whole-rows walk would hold.
     * The walk so far assumed both halves of every gradient equal; a rule whose second half would
     * come out different marks it ({@link Halves#diverge()}), and a rule whose first half reads
     * the second half's gradient ({@link #mixesHalves()}) throws {@link HalvesDiverge} once they
     * have diverged: the tape then walks all rows.
     */
    void applyHalf(Op op, Backend b, Tensor[] in, Tensor[] out, Tensor[] dOut, Tensor[] dIn, Halves halves);

    /** Whether the first half of dIn depends on the second half of dOut (DeepLIFT's max-pool rule). */
    boolean mixesHalves();

    /** One first-half walk's state: whether the halves' gradients may differ from here on. */
    final class Halves {
        private boolean diverged, mixingAhead = true;
        private final java.util.function.UnaryOperator<Tensor> whole;

        Halves(java.util.function.UnaryOperator<Tensor> whole) {
            this.whole = whole;
        }

        /**
         * A forward value laid out in paired halves (2R rows): {@code t} itself when it is, else a
         * new tensor the caller closes (a compact tape's value, {@link Tape#recordShared}).
         */
        public Tensor whole(Tensor t) {
            return whole.apply(t);
        }

        /**
         * Whether a rule that mixes the halves is still ahead in the walk: where none is, the halves
         * may part without consequence for the input half, and need not be compared.
         */
        public boolean mixingAhead() {
            return mixingAhead;
        }

        void mixingAhead(boolean ahead) {
            mixingAhead = ahead;
        }

        public boolean diverged() {
            return diverged;
        }

        public void diverge() {
            diverged = true;
        }
    }
}

package dev.salient.cli;

import dev.salient.engine.SalientException;
import dev.salient.io.Inputs;
import dev.salient.io.NdArray;
import dev.salient.model.Model;
import dev.salient.model.ValueInfo;

/** What predict and explain need of a model's output, checked before anything is computed or written. */
final class ModelChecks {
    private ModelChecks() {}

    /**
     * Refuses a model whose first output, where the loader knows its shape, is
     * empty (a dim of 0), or for explain not (N, classes): attribution targets a logit.
     */
    static void classifierOutput(Model m, String command) {
        if (m.inputs().size() != 1)
            throw new SalientException(command + " feeds one input, the model has " + m.inputs().size() + " ("
                    + m.inputs().stream().map(ValueInfo::name).toList() + ")");
        ValueInfo o = m.outputs().get(0);
        long[] s = o.shape();
        if (s == null) return; // dynamic: checked on the first batch
        for (long d : s)
            if (d == 0) throw new SalientException("the model's output '" + o.name() + "' has shape " + Inputs.shapeStr(s) + ", which is empty");
        if (s.length == 0 || command.equals("explain") && s.length != 2)
            throw new SalientException(command + " needs a classifier whose first output is (N, classes); the model's output '"
                    + o.name() + "' has shape " + Inputs.shapeStr(s));
    }

    /** Checks a computed output: (n, ...) with n rows and at least one class. */
    static NdArray logits(NdArray y, long n) {
        if (y.rank() == 0 || y.dim(0) != n)
            throw new SalientException("the model's output has shape " + Inputs.shapeStr(y.shape()) + ", expected (" + n + ", classes)");
        if (y.data().length == 0)
            throw new SalientException("the model's output has shape " + Inputs.shapeStr(y.shape()) + ", which is empty");
        return y.rank() == 2 ? y : new NdArray(new long[] {n, y.data().length / n}, y.data());
    }
}

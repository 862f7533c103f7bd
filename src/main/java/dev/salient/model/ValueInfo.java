package dev.salient.model;

import java.util.Arrays;

/**
 * A graph input or output: its name and shape, -1 for a dynamic dimension
 * (dim_param or unknown); the shape is null when the model does not declare
 * even the rank.
 */
public record ValueInfo(String name, long[] shape) {
    public ValueInfo {
        shape = shape == null ? null : shape.clone();
    }

    @Override
    public long[] shape() {
        return shape == null ? null : shape.clone();
    }

    /** True when the rank and every dim are known. */
    public boolean isStatic() {
        if (shape == null) return false;
        for (long d : shape) if (d < 0) return false;
        return true;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof ValueInfo v && v.name.equals(name) && Arrays.equals(v.shape, shape);
    }

    @Override
    public int hashCode() {
        return name.hashCode() * 31 + Arrays.hashCode(shape);
    }

    @Override
    public String toString() {
        return name + Arrays.toString(shape);
    }
}

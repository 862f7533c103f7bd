package dev.salient.engine;

/** Broadcasting binary ops, numbered as {@code SALIENT_BIN_*} in native/salient.h. */
public enum BinaryOp {
    ADD(0), SUB(1), MUL(2), DIV(3);

    public final int code;

    BinaryOp(int code) {
        this.code = code;
    }
}

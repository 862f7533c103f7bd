package dev.salient.io;

import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import java.util.zip.DeflaterOutputStream;

/**
 * Writes valid PNGs of any declared size without holding their pixels: rows of
 * a constant value, deflated as they are produced. A 5x20,000,000 grey PNG is
 * about 100 KB on disk.
 */
public final class Png {
    private Png() {}

    /**
     * @param colorType 0 grey, 2 RGB, 6 RGBA; {@code bitDepth} 8 or 16
     */
    public static Path write(Path file, int width, int height, int colorType, int bitDepth, int value) throws IOException {
        return write(file, width, height, colorType, bitDepth, value, height);
    }

    /**
     * As above, with only the first {@code rows} rows in the data: a file whose header
     * declares more than it holds (a decoder that trusts the header allocates it all).
     */
    public static Path write(Path file, int width, int height, int colorType, int bitDepth, int value, int rows)
            throws IOException {
        int channels = switch (colorType) {
            case 0 -> 1;
            case 2 -> 3;
            case 6 -> 4;
            default -> throw new IllegalArgumentException("color type " + colorType);
        };
        int rowBytes = width * channels * (bitDepth / 8);
        ByteArrayOutputStream idat = new ByteArrayOutputStream();
        try (DeflaterOutputStream z = new DeflaterOutputStream(idat, new Deflater(Deflater.BEST_SPEED), 1 << 16)) {
            byte[] row = new byte[1 + rowBytes]; // filter byte 0 (None), then samples
            java.util.Arrays.fill(row, 1, row.length, (byte) value);
            for (int y = 0; y < Math.min(rows, height); y++) z.write(row);
        }
        ByteArrayOutputStream png = new ByteArrayOutputStream();
        png.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        DataOutputStream h = new DataOutputStream(ihdr);
        h.writeInt(width);
        h.writeInt(height);
        h.writeByte(bitDepth);
        h.writeByte(colorType);
        h.writeByte(0);
        h.writeByte(0);
        h.writeByte(0);
        chunk(png, "IHDR", ihdr.toByteArray());
        chunk(png, "IDAT", idat.toByteArray());
        chunk(png, "IEND", new byte[0]);
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.write(file, png.toByteArray());
        return file;
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) throws IOException {
        DataOutputStream d = new DataOutputStream(out);
        d.writeInt(data.length);
        byte[] t = type.getBytes(StandardCharsets.US_ASCII);
        d.write(t);
        d.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        d.writeInt((int) crc.getValue());
    }
}

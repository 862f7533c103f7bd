package dev.salient.visualize;

import java.awt.image.BufferedImage;
import java.util.List;

/**
 * Pictures of feature visualisations: an image (C,H,W) in [0,1] as RGB (gray for one
 * channel), nearest-upscaled for viewing, and a labelled grid. Labels use a built-in 3×5 pixel
 * font, so no system font is needed (headless machines, jlink runtimes).
 */
public final class Render {
    private Render() {}

    /** An image (C,H,W) in [0,1] at row {@code offset} of {@code data}, upscaled by {@code zoom}. */
    public static BufferedImage image(float[] data, long offset, int c, int h, int w, int zoom) {
        BufferedImage img = new BufferedImage(w * zoom, h * zoom, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < h * zoom; y++)
            for (int x = 0; x < w * zoom; x++) {
                int sy = y / zoom, sx = x / zoom, rgb = 0;
                for (int k = 0; k < 3; k++) {
                    float v = data[(int) (offset + ((long) (c == 3 ? k : 0) * h + sy) * w + sx)];
                    int b = Math.round(255 * Math.max(0f, Math.min(1f, Float.isNaN(v) ? 0f : v)));
                    rgb = (rgb << 8) | b;
                }
                img.setRGB(x, y, rgb);
            }
        return img;
    }

    /** Zoom so that the larger side is at least {@code target} pixels. */
    public static int zoomFor(int h, int w, int target) {
        return Math.max(1, (int) Math.ceil(target / (double) Math.max(h, w)));
    }

    /** One labelled tile per row, then {@code extra[row]} more tiles to its right (exemplars), or a square grid. */
    public record Tile(BufferedImage image, String label) {}

    static final int PAD = 4, GLYPH = 2; // font pixels per glyph pixel

    /**
     * A grid of tiles: with {@code rows} non-null, row r holds rows.get(r) (synthetic image first, then its
     * exemplars); else tiles wrap into a near-square grid.
     */
    public static BufferedImage grid(List<List<Tile>> rows, int tileSize) {
        int cols = 0;
        for (List<Tile> r : rows) cols = Math.max(cols, r.size());
        int labelH = 5 * GLYPH + 2 * PAD;
        int cellW = tileSize + PAD, cellH = tileSize + labelH;
        BufferedImage g = new BufferedImage(PAD + cols * cellW, PAD + rows.size() * cellH, BufferedImage.TYPE_INT_RGB);
        fill(g, 0, 0, g.getWidth(), g.getHeight(), 0xFFFFFF);
        for (int r = 0; r < rows.size(); r++)
            for (int k = 0; k < rows.get(r).size(); k++) {
                Tile t = rows.get(r).get(k);
                int x0 = PAD + k * cellW, y0 = r * cellH;
                text(g, t.label(), x0, y0 + PAD, 0x202020);
                BufferedImage s = scaled(t.image(), tileSize);
                int ox = x0 + (tileSize - s.getWidth()) / 2, oy = y0 + labelH + (tileSize - s.getHeight()) / 2;
                for (int y = 0; y < s.getHeight(); y++)
                    for (int x = 0; x < s.getWidth(); x++) g.setRGB(ox + x, oy + y, s.getRGB(x, y));
            }
        return g;
    }

    /** Square-ish wrapping of single tiles. */
    public static List<List<Tile>> wrap(List<Tile> tiles) {
        int cols = (int) Math.ceil(Math.sqrt(tiles.size()));
        List<List<Tile>> rows = new java.util.ArrayList<>();
        for (int i = 0; i < tiles.size(); i += cols) rows.add(tiles.subList(i, Math.min(tiles.size(), i + cols)));
        return rows;
    }

    /** Nearest resize so the larger side is {@code size}. */
    static BufferedImage scaled(BufferedImage src, int size) {
        int w = src.getWidth(), h = src.getHeight();
        double f = size / (double) Math.max(w, h);
        int ow = Math.max(1, (int) Math.round(w * f)), oh = Math.max(1, (int) Math.round(h * f));
        if (ow == w && oh == h) return src;
        BufferedImage out = new BufferedImage(ow, oh, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < oh; y++)
            for (int x = 0; x < ow; x++) out.setRGB(x, y, src.getRGB(Math.min(w - 1, (int) (x / f)), Math.min(h - 1, (int) (y / f))));
        return out;
    }

    private static void fill(BufferedImage g, int x0, int y0, int w, int h, int rgb) {
        for (int y = y0; y < y0 + h; y++)
            for (int x = x0; x < x0 + w; x++) g.setRGB(x, y, rgb);
    }

    /** 3×5 glyphs, rows top to bottom, 3 bits each (4 = left pixel). */
    private static final String CHARS = "0123456789abcdefghijklmnopqrstuvwxyz .-=#:";
    private static final int[][] GLYPHS = {
        {7, 5, 5, 5, 7}, {2, 6, 2, 2, 7}, {7, 1, 7, 4, 7}, {7, 1, 7, 1, 7}, {5, 5, 7, 1, 1},
        {7, 4, 7, 1, 7}, {7, 4, 7, 5, 7}, {7, 1, 1, 2, 2}, {7, 5, 7, 5, 7}, {7, 5, 7, 1, 7},
        {2, 5, 7, 5, 5}, {6, 5, 6, 5, 6}, {3, 4, 4, 4, 3}, {6, 5, 5, 5, 6}, {7, 4, 6, 4, 7},
        {7, 4, 6, 4, 4}, {3, 4, 5, 5, 3}, {5, 5, 7, 5, 5}, {7, 2, 2, 2, 7}, {1, 1, 1, 5, 2},
        {5, 5, 6, 5, 5}, {4, 4, 4, 4, 7}, {5, 7, 7, 5, 5}, {6, 5, 5, 5, 5}, {2, 5, 5, 5, 2},
        {6, 5, 6, 4, 4}, {2, 5, 5, 6, 3}, {6, 5, 6, 5, 5}, {3, 4, 2, 1, 6}, {7, 2, 2, 2, 2},
        {5, 5, 5, 5, 7}, {5, 5, 5, 5, 2}, {5, 5, 7, 7, 5}, {5, 5, 2, 5, 5}, {5, 5, 2, 2, 2},
        {7, 1, 2, 4, 7}, {0, 0, 0, 0, 0}, {0, 0, 0, 0, 2}, {0, 0, 7, 0, 0}, {0, 7, 0, 7, 0},
        {5, 7, 5, 7, 5}, {0, 2, 0, 2, 0}};

    /** Draws text (lower-cased; unknown characters as blanks) with its top-left at (x, y); clipped to the image. */
    static void text(BufferedImage g, String s, int x, int y, int rgb) {
        String t = s.toLowerCase(java.util.Locale.ROOT);
        for (int i = 0; i < t.length(); i++) {
            int k = CHARS.indexOf(t.charAt(i));
            int[] glyph = GLYPHS[k < 0 ? CHARS.indexOf(' ') : k];
            for (int row = 0; row < 5; row++)
                for (int col = 0; col < 3; col++)
                    if ((glyph[row] & (4 >> col)) != 0)
                        for (int dy = 0; dy < GLYPH; dy++)
                            for (int dx = 0; dx < GLYPH; dx++) {
                                int px = x + (i * 4 + col) * GLYPH + dx, py = y + row * GLYPH + dy;
                                if (px >= 0 && py >= 0 && px < g.getWidth() && py < g.getHeight()) g.setRGB(px, py, rgb);
                            }
        }
    }
}

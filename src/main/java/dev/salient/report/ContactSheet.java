package dev.salient.report;

import dev.salient.engine.SalientException;
import java.awt.Color;
import java.awt.Font;
import java.awt.FontMetrics;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;

/**
 * A contact sheet ({@code overview.png}): one row per image, the input first and
 * then each of its maps, in cells of {@value #CELL} px with a labelled header row
 * and a label over each row. Only the first {@code maxRows} rows are kept (the
 * title says how many there were); each cell is shrunk to its thumbnail when it
 * is added, so a long run holds no full-size images.
 * <pre>{@code
 * ContactSheet s = new ContactSheet("gradcam on fashion_cnn.onnx", List.of("input", "gradcam"), 32);
 * s.addRow("0001_shirt.png", List.of(input, overlay));
 * s.write(out.resolve("overview.png"));
 * }</pre>
 */
public final class ContactSheet {
    /** The side of a cell's square, in pixels. */
    public static final int CELL = 224;
    /** Layout: the gap between cells, the label line over each row, the header (and footer) line. */
    public static final int PAD = 4, LABEL = 16, HEADER = 22;

    private final String title;
    private final List<String> columns;
    private final int maxRows;
    private final List<String> labels = new ArrayList<>();
    private final List<List<BufferedImage>> rows = new ArrayList<>();
    private int total;

    public ContactSheet(String title, List<String> columns, int maxRows) {
        if (columns.isEmpty() || maxRows <= 0) throw new SalientException("a contact sheet needs columns and rows");
        this.title = title;
        this.columns = List.copyOf(columns);
        this.maxRows = maxRows;
    }

    /** Whether the next row is kept (the sheet holds fewer than maxRows). */
    public boolean wantsMore() {
        return rows.size() < maxRows;
    }

    /** Adds a row (a null cell stays empty); beyond maxRows it is only counted. */
    public void addRow(String label, List<BufferedImage> cells) {
        total++;
        if (!wantsMore()) return;
        if (cells.size() > columns.size())
            throw new SalientException("a contact sheet row of " + cells.size() + " cells has " + columns.size() + " columns");
        List<BufferedImage> thumbs = new ArrayList<>();
        for (BufferedImage c : cells) thumbs.add(c == null ? null : thumbnail(c));
        labels.add(label);
        rows.add(thumbs);
    }

    /** Rows added, kept or not. */
    public int total() {
        return total;
    }

    /** Rows kept. */
    public int rows() {
        return rows.size();
    }

    public BufferedImage render() {
        int cols = columns.size(), nr = Math.max(1, rows.size());
        int width = PAD + cols * (CELL + PAD);
        int height = HEADER + PAD + nr * (LABEL + CELL + PAD) + HEADER;
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        try {
            g.setColor(Color.WHITE);
            g.fillRect(0, 0, width, height);
            for (int r = 0; r < rows.size(); r++) {
                int y = HEADER + PAD + r * (LABEL + CELL + PAD) + LABEL;
                List<BufferedImage> cells = rows.get(r);
                for (int c = 0; c < cells.size(); c++) {
                    BufferedImage t = cells.get(c);
                    int x = PAD + c * (CELL + PAD);
                    g.setColor(new Color(0xe8e8e8));
                    g.fillRect(x, y, CELL, CELL);
                    if (t != null) g.drawImage(t, x + (CELL - t.getWidth()) / 2, y + (CELL - t.getHeight()) / 2, null);
                }
            }
            labels(g, width, height);
        } finally {
            g.dispose();
        }
        return img;
    }

    /** Writes the sheet as a PNG through a temporary file, so a reader never sees half of one. */
    public void write(Path png) throws IOException {
        Path tmp = png.resolveSibling(png.getFileName() + ".partial");
        if (!ImageIO.write(render(), "png", tmp.toFile())) throw new SalientException("cannot write PNG " + tmp);
        Files.move(tmp, png, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
    }

    private void labels(Graphics2D g, int width, int height) {
        try {
            g.setRenderingHint(RenderingHints.KEY_TEXT_ANTIALIASING, RenderingHints.VALUE_TEXT_ANTIALIAS_ON);
            g.setColor(Color.BLACK);
            g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 13));
            FontMetrics fm = g.getFontMetrics();
            for (int c = 0; c < columns.size(); c++)
                g.drawString(fit(columns.get(c), fm, CELL), PAD + c * (CELL + PAD), HEADER - 6);
            g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 11));
            fm = g.getFontMetrics();
            for (int r = 0; r < rows.size(); r++) {
                int y = HEADER + PAD + r * (LABEL + CELL + PAD) + LABEL - 4;
                g.drawString(fit(labels.get(r), fm, width - 2 * PAD), PAD, y);
            }
            String foot = title + (total > rows.size() ? " (first " + rows.size() + " of " + total + " rows)" : "");
            g.setColor(Color.DARK_GRAY);
            g.drawString(fit(foot, fm, width - 2 * PAD), PAD, height - 7);
        } catch (RuntimeException | Error noFonts) {
            // a JVM without fonts (a bare container) still gets the images, unlabelled
        }
    }

    private static String fit(String s, FontMetrics fm, int width) {
        if (fm.stringWidth(s) <= width) return s;
        String t = s;
        while (t.length() > 1 && fm.stringWidth(t + "...") > width) t = t.substring(0, t.length() - 1);
        return t + "...";
    }

    /** The image fitted into a CELL x CELL square: whole-pixel replication up, smooth sampling down. */
    static BufferedImage thumbnail(BufferedImage img) {
        int w = img.getWidth(), h = img.getHeight();
        if (w <= CELL && h <= CELL) {
            int k = Math.max(1, Math.min(CELL / w, CELL / h));
            return k == 1 ? img : Overlay.scaleNearest(img, k);
        }
        double s = Math.min((double) CELL / w, (double) CELL / h);
        int tw = Math.max(1, (int) Math.round(w * s)), th = Math.max(1, (int) Math.round(h * s));
        BufferedImage t = new BufferedImage(tw, th, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = t.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.setRenderingHint(RenderingHints.KEY_RENDERING, RenderingHints.VALUE_RENDER_QUALITY);
            g.drawImage(img, 0, 0, tw, th, null);
        } finally {
            g.dispose();
        }
        return t;
    }
}

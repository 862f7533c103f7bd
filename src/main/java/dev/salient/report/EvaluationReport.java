package dev.salient.report;

import java.util.Base64;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * The one-file HTML report of {@code salient evaluate}: no scripts, no network, every image an
 * embedded PNG data URI and every plot inline SVG, so it opens from a file anywhere. It holds
 * the methods × metrics table of means with 95 % intervals (the best of each column marked),
 * the mean deletion/insertion curves per method, and a row of thumbnails per image: the input,
 * then each method's overlay.
 */
public final class EvaluationReport {
    private EvaluationReport() {}

    /** A column of the table: its key, label, and whether higher is better (null: no best is marked). */
    public record Column(String key, String label, Boolean higherIsBetter) {}

    /** A summary cell: mean, 95 % interval and count (NaN mean: no value). */
    public record Cell(double mean, double lo, double hi, int n) {}

    /** Mean curves of one metric: fractions and, per method, the mean scores. */
    public record CurvePlot(String metric, float[] fractions, Map<String, double[]> perMethod) {}

    /** A thumbnail row: the image's name, target, input PNG (or null) and each method's overlay PNG. */
    public record ImageRow(String source, String target, byte[] input, Map<String, byte[]> overlays) {}

    static final String[] PALETTE = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
            "#7f7f7f", "#bcbd22", "#17becf"};

    public static String html(String title, List<String> notes, List<String> methods, List<Column> columns,
            Map<String, Map<String, Cell>> table, List<CurvePlot> curves, List<ImageRow> rows) {
        return html(title, notes, methods, columns, List.of(), table, curves, rows);
    }

    /** As above, with a second table (the randomisation test's columns per layer), empty for none. */
    public static String html(String title, List<String> notes, List<String> methods, List<Column> columns,
            List<Column> layerColumns, Map<String, Map<String, Cell>> table, List<CurvePlot> curves, List<ImageRow> rows) {
        StringBuilder h = new StringBuilder(1 << 16);
        h.append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").append(esc(title))
                .append("</title>\n<style>\n")
                .append("body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fff}\n")
                .append("table{border-collapse:collapse;margin:12px 0}th,td{border:1px solid #ccc;padding:4px 8px;text-align:right}\n")
                .append("th{background:#f0f0f0}td.m{text-align:left;font-weight:600}td.best{background:#d7f5d0;font-weight:700}\n")
                .append(".ci{color:#777;font-size:80%}.thumbs td{text-align:center;vertical-align:top;font-size:80%}\n")
                .append(".thumbs img{width:112px;height:112px;image-rendering:pixelated;display:block;margin:auto}\n")
                .append("svg{background:#fafafa;border:1px solid #ddd;margin-right:16px}</style></head><body>\n");
        h.append("<h1>").append(esc(title)).append("</h1>\n<ul>");
        for (String n : notes) h.append("<li>").append(esc(n)).append("</li>");
        h.append("</ul>\n<h2>Methods × metrics</h2>\n");
        table(h, "metrics", methods, columns, table);
        h.append("<p class=\"ci\">Mean [95 % interval] over images; the best of each column is shaded.</p>\n");
        if (!layerColumns.isEmpty()) {
            h.append("<h2>Randomisation (cascading, top-down): similarity to the original map</h2>\n");
            table(h, "randomisation", methods, layerColumns, table);
        }
        if (!curves.isEmpty()) {
            h.append("<h2>Curves</h2>\n<div id=\"curves\">");
            for (CurvePlot p : curves) h.append(svg(p, methods));
            h.append("</div>\n");
        }
        h.append("<h2>Images</h2>\n<table class=\"thumbs\" id=\"images\"><thead><tr><th>input</th>");
        for (String m : methods) h.append("<th>").append(esc(m)).append("</th>");
        h.append("</tr></thead><tbody>\n");
        for (ImageRow r : rows) {
            h.append("<tr><td>");
            if (r.input() != null) img(h, r.input(), r.source());
            h.append(esc(r.source())).append("<br>target ").append(esc(r.target())).append("</td>");
            for (String m : methods) {
                h.append("<td>");
                byte[] png = r.overlays().get(m);
                if (png != null) img(h, png, m + " on " + r.source());
                h.append("</td>");
            }
            h.append("</tr>\n");
        }
        h.append("</tbody></table>\n</body></html>\n");
        return h.toString();
    }

    private static void table(StringBuilder h, String id, List<String> methods, List<Column> columns,
            Map<String, Map<String, Cell>> table) {
        h.append("<table id=\"").append(id).append("\"><thead><tr><th>method</th>");
        for (Column c : columns)
            h.append("<th title=\"").append(c.higherIsBetter() == null ? "" : c.higherIsBetter() ? "higher is better" : "lower is better")
                    .append("\">").append(esc(c.label())).append(c.higherIsBetter() == null ? "" : c.higherIsBetter() ? " ↑" : " ↓")
                    .append("</th>");
        h.append("</tr></thead><tbody>\n");
        for (String m : methods) {
            h.append("<tr><td class=\"m\">").append(esc(m)).append("</td>");
            for (Column c : columns) {
                Cell cell = table.getOrDefault(m, Map.of()).get(c.key());
                boolean best = cell != null && isBest(c, cell, methods, table);
                h.append(best ? "<td class=\"best\">" : "<td>");
                if (cell == null || Double.isNaN(cell.mean())) h.append("–");
                else h.append(fmt(cell.mean())).append(" <span class=\"ci\">[").append(fmt(cell.lo())).append(", ")
                        .append(fmt(cell.hi())).append("] n=").append(cell.n()).append("</span>");
                h.append("</td>");
            }
            h.append("</tr>\n");
        }
        h.append("</tbody></table>\n");
    }

    private static boolean isBest(Column c, Cell cell, List<String> methods, Map<String, Map<String, Cell>> table) {
        if (c.higherIsBetter() == null || Double.isNaN(cell.mean()) || methods.size() < 2) return false;
        for (String m : methods) {
            Cell o = table.getOrDefault(m, Map.of()).get(c.key());
            if (o == null || Double.isNaN(o.mean())) continue;
            if (c.higherIsBetter() ? o.mean() > cell.mean() : o.mean() < cell.mean()) return false;
        }
        return true;
    }

    private static void img(StringBuilder h, byte[] png, String alt) {
        h.append("<img alt=\"").append(esc(alt)).append("\" src=\"data:image/png;base64,")
                .append(Base64.getEncoder().encodeToString(png)).append("\">");
    }

    /** A line plot of the mean curve of each method: x the fraction, y the score. */
    static String svg(CurvePlot p, List<String> methods) {
        int w = 420, hgt = 300, left = 50, right = 130, top = 30, bottom = 40;
        double ymax = 0;
        for (double[] v : p.perMethod().values()) for (double d : v) if (Double.isFinite(d)) ymax = Math.max(ymax, d);
        ymax = ymax <= 0 ? 1 : ymax * 1.05;
        int pw = w - left - right, ph = hgt - top - bottom;
        StringBuilder s = new StringBuilder();
        s.append(String.format(Locale.ROOT, "<svg class=\"curve\" id=\"curve-%s\" xmlns=\"http://www.w3.org/2000/svg\" "
                + "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">", esc(p.metric()), w, hgt, w, hgt));
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"18\" font-size=\"14\" font-weight=\"600\">%s</text>", left,
                esc(p.metric() + " (mean score)")));
        s.append(String.format(Locale.ROOT, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"white\" stroke=\"#999\"/>",
                left, top, pw, ph));
        for (int t = 0; t <= 4; t++) {
            double yv = ymax * t / 4;
            double y = top + ph - ph * t / 4.0;
            s.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" stroke=\"#eee\"/>"
                    + "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%s</text>", left, left + pw, y, y, left - 4,
                    y + 3, fmt(yv)));
            double x = left + pw * t / 4.0;
            s.append(String.format(Locale.ROOT, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%.2f</text>",
                    x, top + ph + 14, t / 4.0));
        }
        s.append(String.format(Locale.ROOT, "<text x=\"%d\" y=\"%d\" font-size=\"11\" text-anchor=\"middle\">fraction of pixels</text>",
                left + pw / 2, hgt - 6));
        int k = 0;
        for (String m : methods) {
            double[] v = p.perMethod().get(m);
            if (v == null) continue;
            String col = PALETTE[k % PALETTE.length];
            StringBuilder pts = new StringBuilder();
            for (int i = 0; i < v.length; i++) {
                if (!Double.isFinite(v[i])) continue;
                pts.append(String.format(Locale.ROOT, "%.1f,%.1f ", left + pw * p.fractions()[i], top + ph - ph * v[i] / ymax));
            }
            s.append("<polyline fill=\"none\" stroke-width=\"2\" stroke=\"").append(col).append("\" points=\"")
                    .append(pts.toString().trim()).append("\"/>");
            s.append(String.format(Locale.ROOT, "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>"
                    + "<text x=\"%d\" y=\"%d\" font-size=\"11\">%s</text>", left + pw + 8, left + pw + 24, top + 8 + 16 * k,
                    top + 8 + 16 * k, col, left + pw + 28, top + 12 + 16 * k, esc(m)));
            k++;
        }
        s.append("</svg>");
        return s.toString();
    }

    static String fmt(double v) {
        if (Double.isNaN(v)) return "–";
        double a = Math.abs(v);
        if (a != 0 && (a < 1e-3 || a >= 1e5)) return String.format(Locale.ROOT, "%.3e", v);
        return String.format(Locale.ROOT, "%.4f", v);
    }

    static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\"", "&quot;");
    }
}

package dev.salient.cli;

import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParser;
import dev.salient.engine.SalientException;
import dev.salient.report.ContactSheet;
import dev.salient.report.Overlay;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.Callable;
import javax.imageio.ImageIO;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

/**
 * {@code salient demo}: explains the embedded Fashion-MNIST classifier on its
 * embedded test images with a few methods, with no other input, and prints where
 * the overlays, tensors and reports are; {@code overview.png} shows every image
 * with its overlay by each method.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = "Explain the embedded Fashion-MNIST model on its embedded test images (Grad-CAM, Grad-CAM++, IG, saliency) "
                + "and visualise its last conv layer's channels.")
public final class DemoCommand implements Callable<Integer> {
    static final String RES = "/dev/salient/demo/";
    static final List<String> METHODS = List.of("gradcam", "gradcam++", "ig", "saliency");

    @Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--out", defaultValue = "salient-demo", paramLabel = "DIR",
            description = "Where to write the results (default: ./${DEFAULT-VALUE}).")
    Path out;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "cpu|cuda|auto", description = "Where to compute.")
    String device;

    @Override
    public Integer call() throws IOException {
        PrintWriter stdout = spec.commandLine().getOut();
        JsonObject demo = JsonParser.parseString(resource("demo.json")).getAsJsonObject();
        Path inputs = Files.createDirectories(out.resolve("inputs"));
        Path model = out.resolve("fashion_cnn.onnx");
        copy(demo.get("model").getAsString(), model);
        JsonArray images = demo.getAsJsonArray("images");
        List<String> names = new ArrayList<>();
        for (JsonElement e : images) {
            String f = e.getAsJsonObject().get("file").getAsString();
            Path dst = inputs.resolve(Path.of(f).getFileName().toString());
            copy(f, dst);
            names.add(dst.getFileName().toString());
        }
        JsonObject pre = demo.getAsJsonObject("preprocessing");
        String mean = pre.getAsJsonArray("mean").get(0).getAsString(), std = pre.getAsJsonArray("std").get(0).getAsString();
        JsonArray classes = demo.getAsJsonArray("classes");
        stdout.printf(Locale.ROOT, "salient demo: %s, a small CNN trained on Fashion-MNIST (test accuracy %.2f%%), %d test images%n",
                model.getFileName(), 100 * demo.get("test_accuracy").getAsDouble(), names.size());
        for (String method : METHODS) {
            Path dir = out.resolve(method.replace("+", "p"));
            List<String> args = new ArrayList<>(List.of("explain", "--model", model.toString(), "--method", method,
                    "--input", inputs.toString(), "--out", dir.toString(), "--mean", mean, "--std", std, "--device", device,
                    "--no-progress", "--overwrite")); // the demo owns its folder
            // IG's signed map in Captum's diverging colours; the others in their defaults (jet for CAMs)
            if (method.equals("ig")) args.addAll(List.of("--steps", "32", "--sign", "all"));
            StringWriter so = new StringWriter(), se = new StringWriter();
            CommandLine cl = Main.commandLine();
            cl.setOut(new PrintWriter(so));
            cl.setErr(new PrintWriter(se));
            int rc = cl.execute(args.toArray(String[]::new));
            if (rc != 0) throw new SalientException("demo: " + method + " failed: " + Main.oneLine(se.toString()));
            stdout.printf(Locale.ROOT, "  %-10s -> %s%n", method, dir);
        }
        // feature visualisation of the last conv layer (the layer Grad-CAM explains): one image per channel
        Path fv = out.resolve("featviz");
        List<String> vis = List.of("visualize", "--model", model.toString(), "--layer", "auto", "--objective", "channel",
                "--channels", "all", "--size", "28", "--steps", "64", "--transforms", "none", "--mean", mean, "--std", std,
                "--device", device, "--out", fv.toString(), "--overwrite");
        StringWriter vo = new StringWriter(), ve = new StringWriter();
        CommandLine vc = Main.commandLine();
        vc.setOut(new PrintWriter(vo));
        vc.setErr(new PrintWriter(ve));
        if (vc.execute(vis.toArray(String[]::new)) != 0)
            throw new SalientException("demo: visualize failed: " + Main.oneLine(ve.toString()));
        stdout.printf(Locale.ROOT, "  %-10s -> %s (grid.png: what each of the last conv layer's channels responds to)%n", "visualize", fv);
        // predictions, from the Grad-CAM report (top-1 targets are the predictions)
        JsonObject report = JsonParser.parseString(Files.readString(out.resolve("gradcam").resolve("report.json")))
                .getAsJsonObject();
        stdout.println("predictions (true label -> predicted class, logit):");
        JsonArray items = report.getAsJsonArray("items");
        for (int i = 0; i < items.size(); i++) {
            JsonObject it = items.get(i).getAsJsonObject();
            JsonObject img = images.get(i).getAsJsonObject();
            int pred = it.get("target").getAsInt();
            stdout.printf(Locale.ROOT, "  %-22s %-12s -> %-12s %.3f%n", names.get(i), img.get("label_name").getAsString(),
                    classes.get(pred).getAsString(), it.get("score").getAsDouble());
        }
        Path sheet = overview(images.size());
        stdout.printf("overlays: %s/<method>/*.png, all methods side by side: %s, tensors: attributions.npy, "
                + "details: report.json%n", out, sheet);
        stdout.flush();
        return 0;
    }

    /** {@code overview.png}: each test image, then its overlay by every method, read back from the methods' reports. */
    private Path overview(int n) throws IOException {
        List<String> cols = new ArrayList<>(List.of("input"));
        cols.addAll(METHODS);
        ContactSheet sheet = new ContactSheet("salient demo: " + String.join(", ", METHODS), cols, n);
        List<JsonArray> items = new ArrayList<>();
        for (String method : METHODS) {
            Path dir = out.resolve(method.replace("+", "p"));
            items.add(JsonParser.parseString(Files.readString(dir.resolve("report.json"))).getAsJsonObject()
                    .getAsJsonArray("items"));
        }
        for (int i = 0; i < n; i++) {
            JsonObject first = items.get(0).get(i).getAsJsonObject();
            Path source = Path.of(first.get("source").getAsString());
            List<BufferedImage> cells = new ArrayList<>(List.of(Overlay.readable(ImageIO.read(source.toFile()))));
            for (int m = 0; m < METHODS.size(); m++) {
                String png = items.get(m).get(i).getAsJsonObject().get("overlay").getAsString();
                cells.add(ImageIO.read(out.resolve(METHODS.get(m).replace("+", "p")).resolve(png).toFile()));
            }
            sheet.addRow(source.getFileName() + ": class " + first.get("target").getAsInt(), cells);
        }
        Path png = out.resolve("overview.png");
        sheet.write(png);
        return png;
    }

    private static String resource(String name) throws IOException {
        try (InputStream in = DemoCommand.class.getResourceAsStream(RES + name)) {
            if (in == null) throw new SalientException("demo resource " + name + " is missing from this build");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
    }

    private static void copy(String name, Path dst) throws IOException {
        try (InputStream in = DemoCommand.class.getResourceAsStream(RES + name)) {
            if (in == null) throw new SalientException("demo resource " + name + " is missing from this build");
            Files.copy(in, dst, StandardCopyOption.REPLACE_EXISTING);
        }
    }
}

package dev.salient.batch;

import com.google.gson.Gson;
import com.google.gson.GsonBuilder;
import com.google.gson.JsonArray;
import com.google.gson.JsonElement;
import com.google.gson.JsonObject;
import com.google.gson.JsonParseException;
import com.google.gson.JsonParser;
import dev.salient.engine.SalientException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.Map;
import java.util.TreeMap;

/**
 * {@code manifest.json}: what a batch run is (model checksum, input, methods and
 * options, shard size, format) and which shards are committed, each with the
 * SHA-256 of its files. It is rewritten atomically after every shard, and carries
 * a checksum of its own content, so a hand-edited manifest is refused rather than
 * trusted.
 * <pre>
 * { "format_version": 1, "run": {...}, "shards_total": 15, "complete": false,
 *   "shards": [ {"index": 0, "first": 0, "count": 20, "ok": 19, "failed": 1,
 *                "files": {"shard-00000.json": "sha256...", "shard-00000.gradcam.npy": "..."}} ],
 *   "updated": "2026-12-01T22:00:00Z", "checksum": "sha256 of the rest" }
 * </pre>
 */
final class Manifest {
    static final String NAME = "manifest.json";
    private static final Gson GSON = new GsonBuilder().setPrettyPrinting().disableHtmlEscaping()
            .serializeSpecialFloatingPointValues().create();

    /** One committed shard. */
    record Shard(int index, long first, int count, int ok, int failed, Map<String, String> files) {}

    final JsonObject run;
    final int shardsTotal;
    final TreeMap<Integer, Shard> shards = new TreeMap<>();

    Manifest(JsonObject run, int shardsTotal) {
        this.run = run;
        this.shardsTotal = shardsTotal;
    }

    static JsonObject toJson(Object o) {
        return GSON.toJsonTree(o).getAsJsonObject();
    }

    /** Reads and checks a manifest; a damaged or hand-edited one is a one-line error. */
    static Manifest read(Path file) {
        JsonObject o;
        try {
            o = JsonParser.parseString(Files.readString(file, StandardCharsets.UTF_8)).getAsJsonObject();
        } catch (IOException e) {
            throw new SalientException(file + ": cannot read (" + e.getMessage() + ")");
        } catch (JsonParseException | IllegalStateException e) {
            throw new SalientException(file + ": not a batch manifest (not valid JSON); it was damaged or edited by hand");
        }
        JsonElement sum = o.remove("checksum");
        if (sum == null || !sum.isJsonPrimitive() || !sum.getAsString().equals(checksum(o)))
            throw new SalientException(file + ": content does not match its checksum (edited by hand or damaged); "
                    + "restore it, or start again with a new --out");
        try {
            Manifest m = new Manifest(o.getAsJsonObject("run"), o.get("shards_total").getAsInt());
            for (JsonElement e : o.getAsJsonArray("shards")) {
                JsonObject s = e.getAsJsonObject();
                Map<String, String> files = new TreeMap<>();
                for (var f : s.getAsJsonObject("files").entrySet()) files.put(f.getKey(), f.getValue().getAsString());
                Shard sh = new Shard(s.get("index").getAsInt(), s.get("first").getAsLong(), s.get("count").getAsInt(),
                        s.get("ok").getAsInt(), s.get("failed").getAsInt(), files);
                m.shards.put(sh.index(), sh);
            }
            return m;
        } catch (RuntimeException e) {
            throw new SalientException(file + ": not a batch manifest (" + e.getMessage() + ")");
        }
    }

    /** Writes the manifest atomically. */
    void write(Path file) throws IOException {
        JsonObject o = new JsonObject();
        o.addProperty("format_version", 1);
        o.add("run", run);
        o.addProperty("shards_total", shardsTotal);
        o.addProperty("shards_done", shards.size());
        o.addProperty("complete", shards.size() == shardsTotal);
        long ok = 0, failed = 0;
        for (Shard s : shards.values()) {
            ok += s.ok();
            failed += s.failed();
        }
        o.addProperty("images_ok", ok);
        o.addProperty("images_failed", failed);
        JsonArray arr = new JsonArray();
        for (Shard s : shards.values()) arr.add(GSON.toJsonTree(s));
        o.add("shards", arr);
        o.addProperty("updated", Instant.now().toString());
        o.addProperty("checksum", checksum(o));
        AtomicFiles.write(file, (GSON.toJson(o) + "\n").getBytes(StandardCharsets.UTF_8));
    }

    private static String checksum(JsonObject withoutChecksum) {
        JsonObject c = withoutChecksum.deepCopy();
        c.remove("checksum");
        return AtomicFiles.sha256(new Gson().toJson(c).getBytes(StandardCharsets.UTF_8));
    }

    /**
     * The first difference between the run this manifest records and {@code now}, as
     * "KEY was A, now B", or null when they are the same run.
     */
    String difference(JsonObject now) {
        return diff("", run, now);
    }

    private static String diff(String at, JsonElement was, JsonElement now) {
        if (was == null || now == null) {
            if (was == now) return null;
            return (at.isEmpty() ? "run" : at) + " was " + short_(was) + ", now " + short_(now);
        }
        if (was.isJsonObject() && now.isJsonObject()) {
            JsonObject a = was.getAsJsonObject(), b = now.getAsJsonObject();
            for (String k : a.keySet()) {
                String d = diff(at.isEmpty() ? k : at + "." + k, a.get(k), b.get(k));
                if (d != null) return d;
            }
            for (String k : b.keySet())
                if (!a.has(k)) return (at.isEmpty() ? k : at + "." + k) + " was not set, now " + short_(b.get(k));
            return null;
        }
        if (was.isJsonArray() && now.isJsonArray() && was.getAsJsonArray().size() == now.getAsJsonArray().size()) {
            JsonArray a = was.getAsJsonArray(), b = now.getAsJsonArray();
            for (int i = 0; i < a.size(); i++) {
                JsonElement x = a.get(i), y = b.get(i);
                String name = x.isJsonObject() && x.getAsJsonObject().has("name") ? x.getAsJsonObject().get("name").getAsString()
                        : Integer.toString(i);
                String d = diff(at + "[" + name + "]", x, y);
                if (d != null) return d;
            }
            return null;
        }
        return was.equals(now) ? null : (at.isEmpty() ? "run" : at) + " was " + short_(was) + ", now " + short_(now);
    }

    private static String short_(JsonElement e) {
        if (e == null) return "not set";
        String s = e.isJsonPrimitive() ? e.getAsString() : e.toString();
        return s.length() > 80 ? s.substring(0, 77) + "..." : s;
    }
}

// emu_rewrite: the one build step between a preprocessed kernels/*.cu and g++, so that the
// kernel source stays the source:
//   kernel<<<grid, block[, shmem[, stream]]>>>(args)  ->  ::salient_emu::launch(kernel, grid, block...)(args)
//   __shared__ [attrs] T name[d1]..;                  ->  T (&name)[d1].. = ::salient_emu::shared_var<T[d1]..>("file:line");
//   extern __shared__ [attrs] T name[];               ->  T* name = (T*)::salient_emu::dynamic_shared();
// and it refuses, naming file and line, what the emulation cannot run: inline PTX (asm),
// tensor-core mma (wmma, mma_sync, wgmma), cooperative groups, textures and surfaces.
// Such code needs a plain twin under #ifdef SALIENT_CUDA_EMULATION (which does not count
// as verifying the original). Line markers and line counts are kept, so g++'s messages
// point at the original .cu lines.
//
// Usage: emu_rewrite IN.ii OUT.ii
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

std::string src;
std::vector<std::string> errors;

bool ident_char(char c) { return std::isalnum((unsigned char)c) || c == '_'; }

// File and line of offset `pos`, from the preprocessor's line markers.
void where(size_t pos, std::string& file, int& line) {
    file = "?";
    line = 0;
    size_t i = 0;
    int cur = 1;
    while (i < pos) {
        size_t eol = src.find('\n', i);
        if (eol == std::string::npos || eol >= pos) break;
        if (src[i] == '#') {
            int n = 0;
            char name[1024];
            if (sscanf(src.c_str() + i, "# %d \"%1023[^\"]\"", &n, name) == 2) {
                file = name;
                cur = n;
                i = eol + 1;
                continue;
            }
        }
        cur++;
        i = eol + 1;
    }
    line = cur;
}

// Whether the code at `pos` comes from the project's kernel sources (not a system header).
bool from_kernels(size_t pos) {
    std::string file;
    int line;
    where(pos, file, line);
    auto ends = [&](const char* s) {
        size_t n = strlen(s);
        return file.size() >= n && file.compare(file.size() - n, n, s) == 0;
    };
    return ends(".cu") || ends(".cuh");
}

std::string loc(size_t pos) {
    std::string file;
    int line;
    where(pos, file, line);
    return file + ":" + std::to_string(line);
}

// Code positions: not inside a string or character literal, not on a line marker.
std::vector<bool> code_mask() {
    std::vector<bool> m(src.size(), true);
    size_t i = 0;
    bool line_start = true;
    while (i < src.size()) {
        char c = src[i];
        if (line_start && c == '#') {
            while (i < src.size() && src[i] != '\n') m[i++] = false;
            continue;
        }
        line_start = c == '\n';
        if (c == '"' || c == '\'') {
            char q = c;
            m[i++] = false;
            while (i < src.size() && src[i] != q) {
                if (src[i] == '\\') m[i++] = false;
                if (i < src.size()) m[i++] = false;
            }
            if (i < src.size()) m[i++] = false;
            continue;
        }
        i++;
    }
    return m;
}

void check_unmodellable(const std::vector<bool>& code) {
    struct Bad {
        const char* token;
        const char* what;
    };
    static const Bad bad[] = {
        {"asm", "inline PTX (asm)"},
        {"__asm__", "inline PTX (asm)"},
        {"__asm", "inline PTX (asm)"},
        {"wmma", "tensor-core matrix ops (wmma)"},
        {"mma_sync", "tensor-core matrix ops (mma_sync)"},
        {"wgmma", "tensor-core matrix ops (wgmma)"},
        {"cooperative_groups", "cooperative groups"},
        {"tex1Dfetch", "texture fetches"},
        {"tex2D", "texture fetches"},
        {"surf2Dwrite", "surface writes"},
    };
    for (const Bad& b : bad) {
        const size_t len = strlen(b.token);
        for (size_t p = src.find(b.token); p != std::string::npos; p = src.find(b.token, p + len)) {
            if (!code[p] || (p > 0 && ident_char(src[p - 1])) || (p + len < src.size() && ident_char(src[p + len])))
                continue;
            if (!from_kernels(p)) continue;
            errors.push_back(loc(p) + ": error: " + b.what +
                             " cannot run under the CUDA emulation; give this code a plain twin under "
                             "#ifdef SALIENT_CUDA_EMULATION (the twin does not verify the original)");
        }
    }
}

// kernel<<<cfg>>>(args) -> ::salient_emu::launch(kernel, cfg)(args)
void rewrite_launches(std::string& out, const std::vector<bool>& code) {
    std::string r;
    size_t last = 0;
    for (size_t p = src.find("<<<"); p != std::string::npos; p = src.find("<<<", p + 3)) {
        if (!code[p]) continue;
        // the kernel expression ends before `<<<`: an identifier, maybe with ::, maybe <template args>
        size_t e = p;
        while (e > 0 && std::isspace((unsigned char)src[e - 1])) e--;
        size_t s = e;
        if (s > 0 && src[s - 1] == '>') {
            int depth = 0;
            do {
                s--;
                if (src[s] == '>') depth++;
                else if (src[s] == '<') depth--;
            } while (s > 0 && depth > 0);
            while (s > 0 && std::isspace((unsigned char)src[s - 1])) s--;
        }
        while (s > 0 && (ident_char(src[s - 1]) || src[s - 1] == ':')) s--;
        size_t close = std::string::npos;
        int paren = 0;
        for (size_t q = p + 3; q + 2 < src.size(); q++) {
            if (!code[q]) continue;
            if (src[q] == '(') paren++;
            else if (src[q] == ')') paren--;
            else if (paren == 0 && src.compare(q, 3, ">>>") == 0) {
                close = q;
                break;
            }
        }
        if (close == std::string::npos || s == e) {
            errors.push_back(loc(p) + ": error: cannot read this kernel launch");
            continue;
        }
        r.append(src, last, s - last);
        r += "::salient_emu::launch(";
        r.append(src, s, e - s);
        r += ", ";
        r.append(src, p + 3, close - (p + 3));
        r += ")";
        last = close + 3;
        p = close;  // the loop searches on from close + 3
    }
    r.append(src, last, std::string::npos);
    out.swap(r);
}

// Drops __attribute__((...)) groups from a declaration's type.
std::string strip_attributes(const std::string& t) {
    std::string r;
    size_t i = 0;
    while (i < t.size()) {
        if (t.compare(i, 13, "__attribute__") == 0) {
            size_t q = t.find('(', i);
            int depth = 0;
            for (; q < t.size(); q++) {
                if (t[q] == '(') depth++;
                else if (t[q] == ')' && --depth == 0) break;
            }
            i = q + 1;
            continue;
        }
        r += t[i++];
    }
    return r;
}

void rewrite_shared(std::string& text) {
    src = text;
    std::vector<bool> code = code_mask();
    std::string r;
    size_t last = 0;
    const char* kw = "__shared__";
    size_t from = 0;
    for (size_t p = src.find(kw); p != std::string::npos; p = src.find(kw, from)) {
        from = p + 10;
        if (!code[p] || (p > 0 && ident_char(src[p - 1])) || ident_char(src[p + 10])) continue;
        size_t semi = src.find(';', p);
        if (semi == std::string::npos) break;
        // `extern` just before?
        size_t b = p;
        while (b > 0 && std::isspace((unsigned char)src[b - 1])) b--;
        bool is_extern = b >= 6 && src.compare(b - 6, 6, "extern") == 0 && (b == 6 || !ident_char(src[b - 7]));
        size_t start = is_extern ? b - 6 : p;
        std::string decl = src.substr(p + 10, semi - (p + 10));
        int newlines = 0;
        for (size_t q = start; q < semi; q++) newlines += src[q] == '\n';
        for (char& c : decl)
            if (c == '\n') c = ' ';
        decl = strip_attributes(decl);
        size_t br = decl.find('[');
        std::string head = decl.substr(0, br), dims = br == std::string::npos ? "" : decl.substr(br);
        size_t ne = head.find_last_not_of(" \t");
        size_t ns = ne;
        while (ns > 0 && ident_char(head[ns - 1])) ns--;
        if (ne == std::string::npos || !ident_char(head[ne])) {
            errors.push_back(loc(p) + ": error: cannot read this __shared__ declaration");
            continue;
        }
        std::string name = head.substr(ns, ne + 1 - ns), type = head.substr(0, ns);
        std::string key = loc(p);
        std::string repl;
        if (is_extern)
            repl = type + "* " + name + " = reinterpret_cast<" + type + "*>(::salient_emu::dynamic_shared())";
        else
            repl = type + " (&" + name + ")" + dims + " = ::salient_emu::shared_var<" + type + dims + ">(\"" + key + ":" +
                   name + "\")";
        r.append(src, last, start - last);
        r += repl;
        r.append(newlines, '\n');
        last = semi;
        from = semi;
    }
    r.append(src, last, std::string::npos);
    text.swap(r);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: emu_rewrite IN.ii OUT.ii\n");
        return 2;
    }
    std::ifstream in(argv[1], std::ios::binary);
    if (!in) {
        fprintf(stderr, "emu_rewrite: cannot read %s\n", argv[1]);
        return 2;
    }
    std::stringstream ss;
    ss << in.rdbuf();
    src = ss.str();
    std::vector<bool> code = code_mask();
    check_unmodellable(code);
    std::string out;
    rewrite_launches(out, code);
    rewrite_shared(out);
    if (!errors.empty()) {
        for (const auto& e : errors) fprintf(stderr, "%s\n", e.c_str());
        return 1;
    }
    std::ofstream o(argv[2], std::ios::binary);
    o << out;
    return o ? 0 : 2;
}

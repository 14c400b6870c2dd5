// Where a streamed markdown text's finished blocks end, looking at each line once.
//
// A block ends at a blank line (outside a fence) that is followed by a line starting a new
// top-level block: not indented (a list item's or a code block's continuation), and not a list
// item after a list item (a loose list goes on). Rendering the text block by block then gives what rendering it
// whole gives (reference-style link definitions aside: they reach only their own block).

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const LIST_ITEM = /^(?:[-+*]|\d{1,9}[.)])(?:[ \t]|$)/;

// blocks = new BlockScanner(); blocks.next(text) → where the next block starts, or -1 while the
// block is still growing; text only grows between calls (else: a new scanner).
export class BlockScanner {
  constructor() { this.start = 0; this.i = 0; this.fence = null; this.blank = false; this.list = false; }

  next(text) {
    while (this.i < text.length) {
      const nl = text.indexOf("\n", this.i);
      if (nl < 0) return -1;  // the last line is not complete yet
      const at = this.i, line = text.slice(at, nl);
      if (this.fence) {
        const m = FENCE.exec(line);
        if (m && m[1][0] === this.fence[0] && m[1].length >= this.fence.length && !line.trim().replace(/[`~]/g, "")) this.fence = null;
      } else if (!line.trim()) {
        this.blank = true;
      } else {
        const top = !/^[ \t]/.test(line), item = top && LIST_ITEM.test(line);
        if (this.blank && at > this.start && top && !(item && this.list)) {
          this.start = at; this.blank = false; this.list = false;  // this line is looked at again, as the new block's first
          return at;
        }
        this.blank = false;
        if (top) this.list = item;
        const m = FENCE.exec(line);
        if (m && !(m[1][0] === "`" && line.slice(m[0].length).includes("`"))) this.fence = m[1];
      }
      this.i = nl + 1;
    }
    return -1;
  }
}

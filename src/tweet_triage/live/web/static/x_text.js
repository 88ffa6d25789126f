// X's weighted length of a post, for the reply box's live count: the rule of replies/x_text.py,
// whose constants and patterns each page carries (#x-text-rules). The server counts again and
// decides; this only tells the person early.
function weightedLength(text, rules) {
  "use strict";
  const normalised = text.normalize("NFC");
  const url = new RegExp(rules.url, "giu");
  const emoji = new RegExp(rules.emoji, "u");
  const clusters = new Intl.Segmenter(undefined, { granularity: "grapheme" });
  const weightOf = (character) => {
    const code = character.codePointAt(0);
    const light = rules.light.some(([low, high]) => low <= code && code <= high);
    return light ? rules.scale : rules.defaultWeight;
  };
  const plain = (part) => {
    let total = 0;
    for (const { segment } of clusters.segment(part)) {
      if (emoji.test(segment)) total += rules.emojiWeight;
      else for (const character of segment) total += weightOf(character);
    }
    return total;
  };
  let total = 0;
  let position = 0;
  for (const match of normalised.matchAll(url)) {
    const start = match.index;
    let end = start + match[0].length;
    while (end > start && rules.urlTrailing.includes(normalised[end - 1])) end -= 1;
    total += plain(normalised.slice(position, start)) + rules.urlLength * rules.scale;
    position = end;
  }
  total += plain(normalised.slice(position));
  return Math.floor(total / rules.scale);
}

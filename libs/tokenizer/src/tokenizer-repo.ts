import { ModelTokenizer } from './model-tokenizer';

/** Tokenizers of the served models, by model name (`name@version` resolves to `name`). */
export class TokenizerRepo {
  private readonly byName: Map<string, ModelTokenizer>;

  private constructor(tokenizers: readonly ModelTokenizer[]) {
    this.byName = new Map(tokenizers.map((t) => [t.name, t]));
  }

  static async load(dirs: readonly string[]): Promise<TokenizerRepo> {
    return new TokenizerRepo(await Promise.all(dirs.map((d) => ModelTokenizer.load(d))));
  }

  get names(): string[] {
    return [...this.byName.keys()];
  }

  resolve(model: string): ModelTokenizer | undefined {
    return this.byName.get(model.split('@')[0]!);
  }
}

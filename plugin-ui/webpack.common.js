// @ts-check
/* Settings the three builds share. */
const path = require('path');
const TerserPlugin = require('terser-webpack-plugin');

const isProd = process.env.NODE_ENV === 'production';

/** TypeScript through ts-loader without type checking (`npm run typecheck` does that). */
const tsRule = {
  test: /\.tsx?$/,
  exclude: /\/node_modules\//,
  use: [{ loader: 'ts-loader', options: { transpileOnly: true, configFile: path.resolve(__dirname, 'tsconfig.json') } }],
};

/** Some ESM packages import without file extensions. */
const mjsRule = { test: /\.m?js$/, resolve: { fullySpecified: false } };

/** Fonts and images referenced from CSS. */
const assetRule = (/** @type {string} */ dir) => ({
  test: /\.(png|jpg|jpeg|gif|svg|woff2?|ttf|eot|otf)(\?.*$|$)/,
  type: 'asset/resource',
  generator: { filename: `${dir}/[name].[contenthash:8][ext]` },
});

/** Minify with swc (much faster than terser on two cores). */
const minimizer = [new TerserPlugin({ minify: TerserPlugin.swcMinify, extractComments: false })];

module.exports = { isProd, tsRule, mjsRule, assetRule, minimizer };

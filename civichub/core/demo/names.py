"""Names for the demo city: syllable tables (characters with their pinyin, romanised in Hanyu
Pinyin without tone marks) and the drawing of place and person names from them."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from random import Random


def _table(spec: str) -> tuple[tuple[str, str], ...]:
    """ "青qing 山shan" -> (("青", "qing"), ("山", "shan")): characters, then their pinyin."""
    entries = []
    for token in spec.split():
        split = next(i for i, ch in enumerate(token) if ch.isascii())
        entries.append((token[:split], token[split:]))
    return tuple(entries)


PLACE = _table(
    "青qing 山shan 江jiang 河he 湖hu 海hai 松song 柏bai 桃tao 杏xing 梅mei 兰lan 竹zhu "
    "菊ju 东dong 西xi 南nan 北bei 新xin 安an 平ping 和he 华hua 阳yang 明ming 光guang "
    "春chun 秋qiu 文wen 德de 福fu 康kang 宁ning 泰tai 丰feng 盛sheng 兴xing 隆long 龙long "
    "凤feng 金jin 玉yu 石shi 林lin 园yuan 桥qiao 溪xi 泉quan 峰feng 岭ling 湾wan 港gang "
    "城cheng 庄zhuang 塘tang 坪ping 云yun 霞xia 翠cui 碧bi 清qing 永yong 长chang 广guang "
    "建jian 锦jin 绣xiu 瑞rui 祥xiang 嘉jia 荷he 柳liu 枫feng 榆yu 槐huai 沙sha 滨bin "
    "洲zhou 川chuan 源yuan 鹤he 乐le 景jing 顺shun 昌chang 恒heng 益yi 怡yi 馨xin 苑yuan "
    "湘xiang 澄cheng 汇hui 鸣ming 泽ze 晴qing 望wang 渔yu 樟zhang 桂gui 莲lian 芳fang"
)
# Roughly in order of frequency; drawn with weights falling off along the list.
SURNAMES = _table(
    "王wang 李li 张zhang 刘liu 陈chen 杨yang 黄huang 赵zhao 吴wu 周zhou 徐xu 孙sun 马ma "
    "朱zhu 胡hu 郭guo 何he 高gao 林lin 罗luo 郑zheng 梁liang 谢xie 宋song 唐tang 许xu "
    "韩han 冯feng 邓deng 曹cao 彭peng 曾zeng 肖xiao 田tian 董dong 袁yuan 潘pan 于yu "
    "蒋jiang 蔡cai 余yu 杜du 叶ye 程cheng 苏su 魏wei 吕lyu 丁ding 任ren 沈shen 姚yao "
    "卢lu 姜jiang 崔cui 钟zhong 谭tan 陆lu 汪wang 范fan 金jin 石shi 廖liao 贾jia 夏xia "
    "韦wei 付fu 方fang 白bai 邹zou 孟meng 熊xiong 秦qin 邱qiu 江jiang 尹yin 薛xue 闫yan "
    "段duan 雷lei 侯hou 龙long 史shi 陶tao 黎li 贺he 顾gu 毛mao 郝hao 龚gong 邵shao "
    "万wan 钱qian 严yan 覃qin 武wu 戴dai 莫mo 孔kong 向xiang 汤tang 欧阳ouyang 司马sima "
    "诸葛zhuge 上官shangguan"
)
GIVEN_MALE = _table(
    "伟wei 强qiang 磊lei 军jun 勇yong 杰jie 涛tao 斌bin 超chao 明ming 刚gang 平ping "
    "辉hui 鹏peng 华hua 飞fei 鑫xin 波bo 宇yu 浩hao 凯kai 健jian 俊jun 帆fan 帅shuai "
    "旭xu 宁ning 龙long 林lin 欢huan 阳yang 建jian 国guo 志zhi 文wen 博bo 轩xuan "
    "然ran 子zi 睿rui 泽ze 晨chen 峰feng 成cheng 东dong 海hai 亮liang 兵bing 德de "
    "毅yi 诚cheng 嘉jia 铭ming 豪hao 天tian 宏hong 安an 恩en 昊hao 振zhen 庆qing"
)
GIVEN_FEMALE = _table(
    "芳fang 娜na 敏min 静jing 丽li 艳yan 娟juan 霞xia 秀xiu 英ying 玲ling 桂gui 兰lan "
    "萍ping 婷ting 雪xue 慧hui 颖ying 琳lin 洁jie 梅mei 燕yan 红hong 倩qian 晶jing "
    "佳jia 欣xin 怡yi 雨yu 思si 涵han 梓zi 萱xuan 诗shi 悦yue 瑶yao 琪qi 露lu 月yue "
    "云yun 凤feng 珍zhen 琴qin 淑shu 惠hui 莉li 薇wei 安an 爱ai 娥e 蕾lei 丹dan"
)
ROAD_SUFFIXES = (("路", "Road"), ("街", "Street"), ("大道", "Avenue"), ("巷", "Lane"))
MOBILE_PREFIXES = (
    "130",
    "131",
    "132",
    "133",
    "135",
    "136",
    "137",
    "138",
    "139",
    "150",
    "151",
    "152",
    "155",
    "156",
    "157",
    "158",
    "159",
    "176",
    "177",
    "180",
    "181",
    "182",
    "183",
    "185",
    "186",
    "187",
    "188",
    "189",
    "191",
    "199",
)
COMPOUND_SURNAMES = frozenset(s for s, _ in SURNAMES if len(s) > 1)
_SURNAME_CUMULATIVE = tuple(itertools.accumulate(1.0 / (i + 4) for i in range(len(SURNAMES))))


def romanise(syllables: Sequence[str]) -> str:
    """Joins pinyin syllables into one capitalised word, with the apostrophe pinyin puts before
    a syllable starting with a, o or e ("Xi'an", not "Xian")."""
    word = ""
    for syllable in syllables:
        if word and syllable[:1] in {"a", "o", "e"}:
            word += "'"
        word += syllable
    return word[:1].upper() + word[1:]


class PlaceNames:
    """Draws two-syllable place names, unique within one namespace."""

    def __init__(self, rng: Random) -> None:
        self.rng = rng
        self.used: set[str] = set()

    def place(self) -> tuple[str, str]:
        while True:
            first, second = self.rng.sample(PLACE, 2)
            name = first[0] + second[0]
            if name not in self.used:
                self.used.add(name)
                return name, romanise([first[1], second[1]])


def draw_person(rng: Random, female: bool) -> tuple[str, str, str, str]:
    """(surname, given name, surname pinyin, given pinyin)."""
    surname = rng.choices(SURNAMES, cum_weights=_SURNAME_CUMULATIVE)[0]
    table = GIVEN_FEMALE if female else GIVEN_MALE
    given = rng.sample(table, 2 if rng.random() < 0.7 else 1)
    return (surname[0], "".join(g[0] for g in given), surname[1], romanise([g[1] for g in given]))
